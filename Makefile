# wattprof - build, test, benchmark, install.
#
#   make run       install build dependencies if missing, build, and monitor a demo
#   make test      build and run every test: plain, ASan+UBSan, TSan, fuzzing
#   make bench     the benchmark harness (bench/), figures in docs/BENCHMARKS.md
#   make install   PREFIX=/usr/local (DESTDIR honoured)
#
# BUILD selects the output folder, SAN adds sanitizer flags to every object.

PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
CC ?= cc
CFLAGS ?= -O2 -g
SAN ?=
WERROR ?= -Werror
WARN = -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
       -Wno-format-nonliteral -Wno-format-truncation $(WERROR)
# Paths are built in PATH_MAX buffers from a sysfs root that wp_host_open()
# limits to WP__ROOT_MAX bytes, so truncation cannot happen there.
# The run store links SQLite, and opens libpq with dlopen when a PostgreSQL
# store is opened (its header is needed to build); the command also links
# HDF5 (export only, kept out of the library: see docs/ARCHITECTURE.md) and
# inih.  Expanded when used, so that pkg-config runs after `deps` installed
# the packages.
PKG_CFLAGS = $(shell pkg-config --cflags libpq hdf5 2>/dev/null)
DB_LIBS = $(shell pkg-config --libs sqlite3 2>/dev/null || echo -lsqlite3)
HDF5_LIBS = $(shell pkg-config --libs hdf5 2>/dev/null || echo -lhdf5)
# The command reads its INI configuration files with inih (libinih-dev).
INI_LIBS = $(shell pkg-config --libs inih 2>/dev/null || echo -linih)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude -fPIC -pthread $(WARN) $(PKG_CFLAGS) $(CFLAGS) $(SAN)
LDLIBS = $(DB_LIBS) -pthread -lm -ldl

VERSION = 0.1.0
SOMAJOR = 0

LIB_SRC = $(sort $(wildcard src/core/*.c src/sensors/*.c src/sinks/*.c src/store/*.c src/attrib/*.c))
CLI_SRC = $(sort $(wildcard src/cli/*.c))
TEST_SRC = $(sort $(wildcard tests/*.c))
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)
HEADERS = include/wattprof/wattprof.h $(wildcard src/*/*.h) $(wildcard tests/*.h) \
          $(wildcard tests/fakenvml/*.h)

STATIC = $(BUILD)/libwattprof.a
SHARED = $(BUILD)/libwattprof.so.$(VERSION)
BIN = $(BUILD)/wattprof
PLUGIN = $(BUILD)/wattprof-hdf5.so
TESTBIN = $(BUILD)/run-tests
FAKENVML = $(BUILD)/fakenvml/libnvidia-ml.so.1
FAKENVML_OLD = $(BUILD)/fakenvml-old/libnvidia-ml.so.1
CAPWORK = $(BUILD)/tests/helpers/capwork
# MPI (docs/MPI.md): built when an MPI compiler is found, in unsanitized
# builds only (a sanitizer's runtime cannot be preloaded into an MPI program
# that was not built with it).
MPICC ?= mpicc
HAVE_MPI := $(if $(SAN),,$(shell command -v $(MPICC) >/dev/null 2>&1 && echo yes))
MPILIB = $(BUILD)/libwattprof-mpi.so
MPIAPP = $(BUILD)/tests/helpers/mpi_app
MPIREGIONS = $(BUILD)/tests/helpers/mpi_regions
MPI_TARGETS = $(if $(HAVE_MPI),$(MPILIB) $(MPIAPP) $(MPIREGIONS))

.PHONY: all run deps test test-suites check test-plain test-install test-asan test-tsan fuzz bench \
        test-python \
        install uninstall clean

all: $(BIN) $(PLUGIN) $(STATIC) $(SHARED) $(MPI_TARGETS)

$(BUILD)/%.o: %.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	@$(CC) $(ALL_CFLAGS) -c $< -o $@

# The carbon-intensity table (data/carbon-intensity.csv, docs/CARBON.md) as C,
# made at build time so that the CSV stays the one copy; src/core/carbon.c
# includes it.  The awk checks the CSV and fails the build on a bad row.
CARBON_TABLE = $(BUILD)/gen/carbon_table.h
$(CARBON_TABLE): data/carbon-intensity.csv scripts/carbon-table.awk
	@mkdir -p $(dir $@)
	@echo "  GEN $@"
	@awk -f scripts/carbon-table.awk data/carbon-intensity.csv > $@.tmp || \
	  { rm -f $@.tmp; exit 1; }
	@mv $@.tmp $@
$(BUILD)/src/core/carbon.o: $(CARBON_TABLE)
$(BUILD)/src/core/carbon.o: ALL_CFLAGS += -I$(BUILD)/gen

$(STATIC): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# Only wp_* names (not the internal wp__*) leave the shared library.
$(SHARED): $(LIB_OBJ) src/libwattprof.map
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libwattprof.so.$(SOMAJOR) \
	  -Wl,--version-script=src/libwattprof.map $(LIB_OBJ) -o $@ $(LDLIBS)
	ln -sf libwattprof.so.$(VERSION) $(BUILD)/libwattprof.so.$(SOMAJOR)
	ln -sf libwattprof.so.$(VERSION) $(BUILD)/libwattprof.so

# The command links the static library: no loader search at start-up.  It
# exports the library's names (wp_*) to the HDF5 plugin it loads.
$(BIN): $(CLI_OBJ) $(STATIC)
	$(CC) $(ALL_CFLAGS) $(CLI_OBJ) $(STATIC) -o $@ -Wl,--export-dynamic-symbol='wp_*' \
	  $(INI_LIBS) $(LDLIBS)

# `export --format hdf5` (src/export/hdf5.c), a plugin that the command
# loads only then: HDF5 and what it brings are not loaded at every start.
$(PLUGIN): $(BUILD)/src/export/hdf5.o
	$(CC) $(ALL_CFLAGS) -shared $< -o $@ $(HDF5_LIBS)

# The tests call the live line's text composer (src/cli/live.c) and the
# export writers (src/cli/export.c, src/export/hdf5.c, hence HDF5) directly.
TEST_CLI_OBJ = $(BUILD)/src/cli/live.o $(BUILD)/src/cli/export.o $(BUILD)/src/export/hdf5.o
$(TESTBIN): $(TEST_OBJ) $(TEST_CLI_OBJ) $(STATIC) $(BIN) $(PLUGIN) $(FAKENVML) $(FAKENVML_OLD) $(CAPWORK) \
  $(MPI_TARGETS)
	$(CC) $(ALL_CFLAGS) $(TEST_OBJ) $(TEST_CLI_OBJ) $(STATIC) -o $@ $(HDF5_LIBS) $(LDLIBS)

# The fake NVIDIA library that the NVML tests put first in LD_LIBRARY_PATH
# (tests/fakenvml/fake_nvml.h); built with SAN like everything it is loaded into.
FAKENVML_CC = $(CC) -std=c11 -D_GNU_SOURCE -Isrc -fPIC -shared -pthread $(WARN) $(CFLAGS) \
  $(SAN) -Wl,-soname,libnvidia-ml.so.1
$(FAKENVML): tests/fakenvml/fake_nvml.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	@$(FAKENVML_CC) $< -o $@ -lm
	@ln -sf libnvidia-ml.so.1 $(dir $@)libnvidia-ml.so

# The MPI interposition library: the library's objects (built -fPIC) with
# src/mpi/mpi.c, exporting only MPI_Init, MPI_Init_thread, MPI_Finalize and
# wp_mpi_* (--exclude-libs: its copy of libwattprof stays its own, so that
# preloaded it never stands in for a libwattprof.so.0 the program loads).
$(MPILIB): src/mpi/mpi.c $(STATIC) include/wattprof/wattprof_mpi.h Makefile
	@mkdir -p $(dir $@)
	@echo "  MPICC $@"
	@$(MPICC) -std=c11 -D_GNU_SOURCE -Iinclude -Isrc $(WARN) $(CFLAGS) -fPIC -shared $< $(STATIC) \
	  -Wl,--exclude-libs,ALL \
	  -o $@ $(LDLIBS)

# An MPI program for the tests (tests/helpers/mpi_app.c), knowing nothing of wattprof.
$(MPIAPP): tests/helpers/mpi_app.c tests/helpers/mpi_app_add.h Makefile
	@mkdir -p $(dir $@)
	@echo "  MPICC $@"
	@$(MPICC) -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $< -o $@ -lm

# One that links libwattprof-mpi and marks regions across its ranks.
$(MPIREGIONS): tests/helpers/mpi_regions.c tests/helpers/mpi_app_add.h $(MPILIB) Makefile
	@mkdir -p $(dir $@)
	@echo "  MPICC $@"
	@$(MPICC) -std=c11 -D_GNU_SOURCE -Iinclude $(WARN) $(CFLAGS) $< -o $@ \
	  -L$(BUILD) -lwattprof-mpi -Wl,-rpath,$(abspath $(BUILD)) -lm

# The power-cap profiler's test workload (tests/helpers/capwork.c).
$(CAPWORK): tests/helpers/capwork.c Makefile
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	@$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN) $< -o $@ -lm

# The same fake as an old driver, without the optional symbols; tests open
# it by full path through WATTPROF_NVML_LIB.
$(FAKENVML_OLD): tests/fakenvml/fake_nvml.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	@$(FAKENVML_CC) -DFAKE_NVML_OLD_DRIVER $< -o $@ -lm

$(BUILD)/tests/%.o: ALL_CFLAGS += -Isrc -DWATTPROF_BIN='"$(abspath $(BIN))"' \
  -DWATTPROF_SRCDIR='"$(abspath .)"' \
  -DWATTPROF_FAKENVML_DIR='"$(abspath $(dir $(FAKENVML)))"' \
  -DWATTPROF_FAKENVML_OLD='"$(abspath $(FAKENVML_OLD))"' \
  -DWATTPROF_CAPWORK='"$(abspath $(CAPWORK))"' \
  -DWATTPROF_MPILIB='"$(if $(HAVE_MPI),$(abspath $(MPILIB)))"' \
  -DWATTPROF_MPIAPP='"$(abspath $(MPIAPP))"' \
  -DWATTPROF_MPIREGIONS='"$(abspath $(MPIREGIONS))"' \
  -DWATTPROF_SANITIZED=$(if $(SAN),1,0)

deps:
	@sh scripts/deps.sh build

# The README's first command: a demo run of the main job.
run: deps all
	@echo "== wattprof list"
	@$(BIN) list
	@echo "== wattprof monitor -- sh bench/demo.sh"
	@$(BIN) monitor -- sh bench/demo.sh

# The PostgreSQL driver's tests (tests/test_pg.c) need a server: pg.sh
# starts a private, throwaway one for the command it wraps and stops it
# after, whatever the outcome, unless WATTPROF_TEST_PG already names one
# (so `make test` starts one for all its builds).  When none can start, the
# tests run anyway and those tests skip, saying why.
PG_WITH = WATTPROF_PG_STATE=$(BUILD)/pg sh scripts/pg.sh with

# One suite run: TESTS selects tests by name prefix (default: all).
check: $(TESTBIN)
	$(PG_WITH) $(TESTBIN) --results $(BUILD)/results $(TESTS)

test-plain:
	$(MAKE) check
test-install: all
	RESULTS=$(abspath $(BUILD))/results MAKE='$(MAKE)' sh tests/install_test.sh
# The Python binding (python/), on the library just built, with unittest.
test-python: all $(FAKENVML)
	WATTPROF_LIB=$(abspath $(BUILD))/libwattprof.so.0 \
	WATTPROF_MPI_LIB=$(if $(HAVE_MPI),$(abspath $(MPILIB))) \
	WATTPROF_FAKENVML=$(abspath $(BUILD))/fakenvml/libnvidia-ml.so.1 python3 python/tests/run.py \
	  $(abspath $(BUILD))/python-results
test-asan:
	$(MAKE) BUILD=build/asan CFLAGS='-O1 -g' \
	  SAN='-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer' check
# The sampler thread, the meter it shares with the caller, the CLI around it
# (the live line's snapshots among it), the amdgpu source, read by the
# sampler and the caller together, the time series that the sampler feeds, and
# the attribution that the series drives.
test-tsan:
	$(MAKE) BUILD=build/tsan CFLAGS='-O1 -g' SAN='-fsanitize=thread' \
	  TESTS='sampler meter cli live nvml amdgpu series attrib powercap_profile_stores' check

FUZZ_TIME ?= 20
fuzz:
	@sh scripts/deps.sh fuzz
	@mkdir -p build/fuzz/corpus
	clang -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -g -O1 -fsanitize=fuzzer,address,undefined \
	  tests/fuzz/fuzz_parse.c src/core/util.c src/core/error.c -o build/fuzz/fuzz_parse
	@build/fuzz/fuzz_parse -max_total_time=$(FUZZ_TIME) -seed=1 -artifact_prefix=build/fuzz/ \
	  build/fuzz/corpus \
	  tests/fuzz/seeds > build/fuzz/log 2>&1 || { tail -n 40 build/fuzz/log; \
	  echo "fuzz: fuzz_parse found a failing input (above)"; exit 1; }
	@grep -E 'DONE|Done' build/fuzz/log | tail -n 1
	@echo "fuzz: fuzz_parse ran $(FUZZ_TIME) s without a finding"
	@mkdir -p build/fuzz/corpus-proc
	clang -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -g -O1 -fsanitize=fuzzer,address,undefined \
	  tests/fuzz/fuzz_proc.c src/attrib/proc.c src/core/util.c src/core/error.c -lm \
	  -o build/fuzz/fuzz_proc
	@build/fuzz/fuzz_proc -max_total_time=$(FUZZ_TIME) -seed=1 -artifact_prefix=build/fuzz/ \
	  build/fuzz/corpus-proc \
	  tests/fuzz/seeds-proc > build/fuzz/log-proc 2>&1 || { tail -n 40 build/fuzz/log-proc; \
	  echo "fuzz: fuzz_proc found a failing input (above)"; exit 1; }
	@grep -E 'DONE|Done' build/fuzz/log-proc | tail -n 1
	@echo "fuzz: fuzz_proc ran $(FUZZ_TIME) s without a finding"

# The README's second command: every test, in every build, against one
# PostgreSQL server.
test: deps
	@sh scripts/deps.sh test
	@rm -f build/results build/asan/results build/tsan/results build/python-results
	@$(PG_WITH) $(MAKE) test-suites
	@cat build/results build/python-results build/asan/results build/tsan/results | \
	  awk '{p+=$$1; f+=$$2; s+=$$3} END {printf "total: %d passed, %d failed, %d skipped\n", p, f, s; exit f > 0}'

test-suites:
	$(MAKE) test-plain
	$(MAKE) test-python
	$(MAKE) test-install
	$(MAKE) test-asan
	$(MAKE) test-tsan
	$(MAKE) fuzz

MPIBENCH = $(BUILD)/bench/mpi_bench

bench: all $(if $(HAVE_MPI),$(MPIBENCH))
	$(MAKE) -C . $(BUILD)/bench/bench
	$(PG_WITH) $(BUILD)/bench/bench

# Regions across ranks (bench/mpi_bench.c), run by bench.c under mpirun.
$(MPIBENCH): bench/mpi_bench.c $(MPILIB) Makefile
	@mkdir -p $(dir $@)
	$(MPICC) -std=c11 -D_GNU_SOURCE -Iinclude $(WARN) $(CFLAGS) $< -o $@ \
	  -L$(BUILD) -lwattprof-mpi -Wl,-rpath,$(abspath $(BUILD))

$(BUILD)/bench/bench: bench/bench.c $(STATIC) $(BIN) $(FAKENVML) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -Itests -DWATTPROF_BIN='"$(abspath $(BIN))"' \
	  -DWATTPROF_MPIBENCH='"$(if $(HAVE_MPI),$(abspath $(MPIBENCH)))"' \
	  -DWATTPROF_FAKENVML_DIR='"$(abspath $(dir $(FAKENVML)))"' \
	  bench/bench.c tests/sim.c tests/testutil.c tests/fakecpu.c $(STATIC) -o $@ $(LDLIBS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/lib/wattprof \
	  $(DESTDIR)$(PREFIX)/include/wattprof $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/wattprof
	install -m 755 $(PLUGIN) $(DESTDIR)$(PREFIX)/lib/wattprof/wattprof-hdf5.so
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/libwattprof.a
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/libwattprof.so.$(VERSION)
	ln -sf libwattprof.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libwattprof.so.$(SOMAJOR)
	ln -sf libwattprof.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libwattprof.so
	install -m 644 include/wattprof/wattprof.h $(DESTDIR)$(PREFIX)/include/wattprof/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' wattprof.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/wattprof.pc
	install -m 644 docs/wattprof.1 $(DESTDIR)$(PREFIX)/share/man/man1/wattprof.1
	$(if $(HAVE_MPI),install -m 755 $(MPILIB) $(DESTDIR)$(PREFIX)/lib/libwattprof-mpi.so)
	$(if $(HAVE_MPI),install -m 644 include/wattprof/wattprof_mpi.h $(DESTDIR)$(PREFIX)/include/wattprof/)

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/wattprof $(DESTDIR)$(PREFIX)/lib/libwattprof.* \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/wattprof.pc \
	  $(DESTDIR)$(PREFIX)/share/man/man1/wattprof.1
	rm -rf $(DESTDIR)$(PREFIX)/include/wattprof $(DESTDIR)$(PREFIX)/lib/wattprof

# A test server left by an interrupted run is stopped before its notes go.
clean:
	@for s in build/pg build/*/pg; do \
	  [ ! -d "$$s" ] || WATTPROF_PG_STATE=$$s sh scripts/pg.sh stop || true; done
	rm -rf build
