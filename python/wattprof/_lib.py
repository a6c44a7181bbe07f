"""_lib.py - libwattprof through ctypes: finding the library, and the C
declarations the binding calls (include/wattprof/wattprof.h is the contract;
every structure here repeats its layout, field for field, and says which
version of it).

The library is looked for, in order: the file named by WATTPROF_LIB; a
libwattprof.so.0 next to this package (an installed wheel can carry one);
the system's library path (ldconfig, LD_LIBRARY_PATH).
"""
import ctypes
import ctypes.util
import os

__all__ = ["lib", "WattprofError", "LibraryNotFound", "check", "c_str"]


class WattprofError(OSError):
    """A libwattprof call failed: `code` is its negative error code."""

    def __init__(self, code, what):
        self.code = code
        super().__init__(-code if code > -9000 else code, f"{what}: {_strerror(code)}")


class LibraryNotFound(ImportError):
    """libwattprof.so.0 could not be loaded from any place looked in."""


def _candidates():
    env = os.environ.get("WATTPROF_LIB")
    if env:
        yield env, "WATTPROF_LIB"
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "libwattprof.so.0"), "next to the package"
    found = ctypes.util.find_library("wattprof")
    yield found or "libwattprof.so.0", "the system's library path"


def _load():
    tried = []
    for path, where in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{where} ({path}): {e}")
    raise LibraryNotFound(
        "cannot load libwattprof: tried " + "; ".join(tried) +
        ". Build it with 'make' in the wattprof repository and set "
        "WATTPROF_LIB=/path/to/build/libwattprof.so.0, or install it "
        "('make install') so that the system's loader finds it")


lib = _load()


def c_str(s):
    return None if s is None else s.encode()


# ------------------------------------------------------------ structures

class Options(ctypes.Structure):
    """struct wp_options, version 2."""
    _fields_ = [("version", ctypes.c_uint), ("sysfs_root", ctypes.c_char_p),
                ("proc_root", ctypes.c_char_p), ("dev_root", ctypes.c_char_p),
                ("sources", ctypes.c_char_p), ("tdp_w", ctypes.c_double),
                ("flags", ctypes.c_uint)]


class DomainInfo(ctypes.Structure):
    """struct wp_domain_info."""
    _fields_ = [("name", ctypes.c_char_p), ("source", ctypes.c_char_p),
                ("path", ctypes.c_char_p), ("unit", ctypes.c_char_p),
                ("kind", ctypes.c_int), ("socket", ctypes.c_int),
                ("estimated", ctypes.c_int), ("counter_max", ctypes.c_uint64),
                ("joules_per_count", ctypes.c_double), ("peak_power_w", ctypes.c_double),
                ("min_wrap_ns", ctypes.c_uint64), ("die", ctypes.c_int),
                ("integrated", ctypes.c_int), ("method", ctypes.c_char_p),
                ("update_ns", ctypes.c_uint64), ("device_name", ctypes.c_char_p),
                ("device_id", ctypes.c_char_p), ("opt_in", ctypes.c_int)]


class Region(ctypes.Structure):
    """struct wp_region."""
    _fields_ = [("tag", ctypes.c_char_p), ("start_ns", ctypes.c_uint64),
                ("duration_ns", ctypes.c_uint64),
                ("energy_j", ctypes.POINTER(ctypes.c_double))]


ON_SAMPLE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class SamplerOptions(ctypes.Structure):
    """struct wp_sampler_options, version 3."""
    _fields_ = [("version", ctypes.c_uint), ("freq_hz", ctypes.c_double),
                ("on_sample", ON_SAMPLE), ("user", ctypes.c_void_p),
                ("flags", ctypes.c_uint), ("series", ctypes.c_void_p)]


class SamplerStats(ctypes.Structure):
    """struct wp_sampler_stats."""
    _fields_ = [("freq_hz", ctypes.c_double), ("samples", ctypes.c_uint64),
                ("missed", ctypes.c_uint64), ("max_late_ns", ctypes.c_uint64)]


class SeriesOptions(ctypes.Structure):
    """struct wp_series_options, version 3."""
    _fields_ = [("version", ctypes.c_uint), ("flags", ctypes.c_uint),
                ("readings_hz", ctypes.c_double), ("window_s", ctypes.c_double),
                ("dir", ctypes.c_char_p), ("flush_s", ctypes.c_double),
                ("attrib", ctypes.c_void_p)]


class SeriesColumn(ctypes.Structure):
    """struct wp_series_column."""
    _fields_ = [("domain", ctypes.c_char_p), ("metric", ctypes.c_char_p),
                ("unit", ctypes.c_char_p)]


class RunInfo(ctypes.Structure):
    """struct wp_run_info, version 1."""
    _fields_ = [("version", ctypes.c_uint), ("name", ctypes.c_char_p),
                ("tags", ctypes.POINTER(ctypes.c_char_p)), ("tag_count", ctypes.c_size_t),
                ("package", ctypes.c_char_p), ("algorithm", ctypes.c_char_p),
                ("algorithm_params", ctypes.c_char_p), ("data_type", ctypes.c_char_p),
                ("data_shape", ctypes.c_char_p), ("comment", ctypes.c_char_p),
                ("user", ctypes.c_char_p), ("host", ctypes.c_char_p),
                ("platform", ctypes.c_char_p)]


class CarbonOptions(ctypes.Structure):
    """struct wp_carbon_options, version 1."""
    _fields_ = [("version", ctypes.c_uint), ("flags", ctypes.c_uint), ("pue", ctypes.c_double),
                ("country", ctypes.c_char_p), ("emissions_factor", ctypes.c_double),
                ("emissions_factor_source", ctypes.c_char_p),
                ("price_factor", ctypes.c_double), ("price_unit", ctypes.c_char_p)]


class CarbonIntensity(ctypes.Structure):
    """struct wp_carbon_intensity."""
    _fields_ = [("alpha2", ctypes.c_char_p), ("alpha3", ctypes.c_char_p),
                ("name", ctypes.c_char_p), ("g_per_kwh", ctypes.c_double),
                ("year", ctypes.c_int), ("source", ctypes.c_char_p)]


class AttribOptions(ctypes.Structure):
    """struct wp_attrib_options, version 1."""
    _fields_ = [("version", ctypes.c_uint), ("flags", ctypes.c_uint),
                ("root_pid", ctypes.c_int64), ("idle_power_w", ctypes.POINTER(ctypes.c_double))]


class ReportHead(ctypes.Structure):
    """The first members of struct wp_report (the header keeps them first):
    the binding sets start_unix_ns and reads nothing else through it."""
    _fields_ = [("host", ctypes.c_void_p), ("command", ctypes.c_void_p),
                ("exit_status", ctypes.c_int), ("start_unix_ns", ctypes.c_int64),
                ("duration_s", ctypes.c_double)]


class RunHead(ctypes.Structure):
    """struct wp_run up to its report, which follows at sizeof(RunHead)
    (every member is 8 bytes: no padding before it)."""
    _fields_ = [("id", ctypes.c_int64)] + [
        (n, ctypes.c_char_p) for n in (
            "uuid", "status", "name", "package", "algorithm", "algorithm_params",
            "data_type", "data_shape", "comment", "user", "platform", "wattprof_version")] + [
        ("tags", ctypes.POINTER(ctypes.c_char_p)), ("tag_count", ctypes.c_size_t),
        ("cpu_j", ctypes.c_double), ("dram_j", ctypes.c_double), ("gpu_j", ctypes.c_double),
        ("other_j", ctypes.c_double)]


class PowerLimit(ctypes.Structure):
    """struct wp_power_limit."""
    _fields_ = [("device", ctypes.c_char_p), ("constraint", ctypes.c_char_p),
                ("id", ctypes.c_char_p), ("kind", ctypes.c_int), ("index", ctypes.c_int),
                ("constraint_id", ctypes.c_int), ("power_w", ctypes.c_double),
                ("default_w", ctypes.c_double), ("min_w", ctypes.c_double),
                ("max_w", ctypes.c_double), ("time_window_s", ctypes.c_double),
                ("enforced_w", ctypes.c_double)]


class PowercapRecord(ctypes.Structure):
    """struct wp_powercap_record."""
    _fields_ = [("device", ctypes.c_char * 64), ("constraint", ctypes.c_char * 32),
                ("id", ctypes.c_char * 1024), ("original_w", ctypes.c_double)]


class CapPoint(ctypes.Structure):
    """struct wp_cap_point."""
    _fields_ = [("cap_w", ctypes.c_double), ("time_s", ctypes.c_double),
                ("energy_j", ctypes.c_double)]


class CapModel(ctypes.Structure):
    """struct wp_cap_model."""
    _fields_ = [("objective", ctypes.c_int), ("eta", ctypes.c_double),
                ("max_power_w", ctypes.c_double), ("default_cap_w", ctypes.c_double),
                ("t", ctypes.c_double * 3), ("p", ctypes.c_double * 3),
                ("center_w", ctypes.c_double), ("lo_w", ctypes.c_double), ("hi_w", ctypes.c_double),
                ("recommended_cap_w", ctypes.c_double), ("predicted_time_s", ctypes.c_double),
                ("predicted_energy_j", ctypes.c_double),
                ("predicted_energy_saving", ctypes.c_double),
                ("predicted_slowdown", ctypes.c_double)]


OPTIONS_VERSION = 2
RUN_INFO_VERSION = 1
CARBON_OPTIONS_VERSION = 1
CARBON_EMISSIONS_FACTOR = 0x1
CARBON_PRICE = 0x2
ATTRIB_OPTIONS_VERSION = 1
ATTRIB_EXCLUDE_SELF = 0x2
STORE_CREATE = 0x1
STORE_READONLY = 0x2
LOAD_SERIES = 0x1
FORMATS = {"text": 0, "txt": 0, "json": 1, "csv": 2, "yaml": 3, "yml": 3, "html": 4}
SAMPLER_OPTIONS_VERSION = 3
SERIES_OPTIONS_VERSION = 3
OPEN_NO_CROSSCHECK = 0x1
SAMPLE_METRICS = 0x1
SERIES_STORE = 0x1
SERIES_NODE = 0x2
SERIES_DEVICES = 0x4
KINDS = {1: "package", 2: "core", 3: "uncore", 4: "dram", 5: "psys", 6: "other",
         7: "system", 8: "gpu"}

P = ctypes.c_void_p
PP = ctypes.POINTER(ctypes.c_void_p)
_protos = {
    "wp_version": (ctypes.c_char_p, []),
    "wp_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    "wp_now_ns": (ctypes.c_uint64, []),
    "wp_host_open": (ctypes.c_int, [PP, ctypes.POINTER(Options)]),
    "wp_host_close": (None, [P]),
    "wp_meter_open": (ctypes.c_int, [PP, P, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                                     ctypes.POINTER(ctypes.c_char_p)]),
    "wp_meter_close": (None, [P]),
    "wp_meter_domain_count": (ctypes.c_size_t, [P]),
    "wp_meter_domain": (ctypes.POINTER(DomainInfo), [P, ctypes.c_size_t]),
    "wp_domain_contains": (ctypes.c_int, [ctypes.POINTER(DomainInfo),
                                          ctypes.POINTER(DomainInfo)]),
    "wp_snapshot_new": (P, [P]),
    "wp_snapshot_free": (None, [P]),
    "wp_meter_snapshot": (ctypes.c_int, [P, P]),
    "wp_snapshot_time_ns": (ctypes.c_uint64, [P]),
    "wp_energy_between": (ctypes.c_int, [P, P, P, ctypes.c_size_t,
                                         ctypes.POINTER(ctypes.c_double)]),
    "wp_meter_begin": (ctypes.c_int, [P, ctypes.c_char_p]),
    "wp_meter_record": (ctypes.c_int, [P, ctypes.c_char_p]),
    "wp_meter_end": (ctypes.c_int, [P]),
    "wp_meter_region_count": (ctypes.c_size_t, [P]),
    "wp_meter_region": (ctypes.c_int, [P, ctypes.c_size_t, ctypes.POINTER(Region)]),
    "wp_meter_clear_regions": (None, [P]),
    "wp_meter_start_sampler": (ctypes.c_int, [P, ctypes.POINTER(SamplerOptions)]),
    "wp_meter_stop_sampler": (ctypes.c_int, [P]),
    "wp_meter_sampler_stats": (ctypes.c_int, [P, ctypes.POINTER(SamplerStats)]),
    "wp_series_open": (ctypes.c_int, [PP, P, P, ctypes.POINTER(SeriesOptions)]),
    "wp_series_close": (None, [P]),
    "wp_series_add": (ctypes.c_int, [P, P]),
    "wp_series_column_count": (ctypes.c_size_t, [P]),
    "wp_series_column": (ctypes.c_int, [P, ctypes.c_size_t, ctypes.POINTER(SeriesColumn)]),
    "wp_series_reader_open": (ctypes.c_int, [PP, P]),
    "wp_series_next": (ctypes.c_int, [P, ctypes.POINTER(ctypes.c_double),
                                      ctypes.POINTER(ctypes.c_double)]),
    "wp_series_reader_close": (None, [P]),
    "wp_report_new": (P, []),
    "wp_report_delete": (None, [P]),
    "wp_report_measure": (ctypes.c_int, [P, P, P, P]),
    "wp_report_set_command": (ctypes.c_int, [P, ctypes.POINTER(ctypes.c_char_p)]),
    "wp_report_set_series": (ctypes.c_int, [P, P]),
    "wp_report_set_attribution": (ctypes.c_int, [P, P]),
    "wp_report_set_carbon": (ctypes.c_int, [P, ctypes.POINTER(CarbonOptions)]),
    "wp_report_write": (ctypes.c_int, [P, ctypes.c_int, P]),
    # printf-style: called with "%s" and the text only.
    "wp_report_warn": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_char_p]),
    "wp_carbon_intensity_find": (ctypes.c_int, [ctypes.c_char_p,
                                                ctypes.POINTER(ctypes.POINTER(CarbonIntensity))]),
    "wp_data_type_check": (ctypes.c_int, [ctypes.c_char_p]),
    "wp_attrib_open": (ctypes.c_int, [PP, P, P, ctypes.POINTER(AttribOptions)]),
    "wp_attrib_add": (ctypes.c_int, [P, P]),
    "wp_attrib_close": (None, [P]),
    "wp_store_open": (ctypes.c_int, [PP, ctypes.c_char_p, ctypes.c_uint]),
    "wp_store_close": (None, [P]),
    "wp_store_errmsg": (ctypes.c_char_p, [P]),
    "wp_store_begin": (ctypes.c_int, [P, ctypes.POINTER(RunInfo), P, P, P,
                                      ctypes.POINTER(ctypes.c_int64)]),
    "wp_store_sync": (ctypes.c_int, [P]),
    "wp_store_finish": (ctypes.c_int, [P, P]),
    "wp_store_load": (ctypes.c_int, [P, ctypes.c_int64, ctypes.c_uint, PP]),
    "wp_run_free": (None, [P]),
    "wp_store_list": (ctypes.c_int, [P, ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)),
                                     ctypes.POINTER(ctypes.c_size_t)]),
    "wp_store_remove": (ctypes.c_int, [P, ctypes.c_int64]),
    "wp_power_limits": (ctypes.c_int, [P, ctypes.POINTER(ctypes.POINTER(PowerLimit)),
                                       ctypes.POINTER(ctypes.c_size_t)]),
    "wp_power_limits_free": (None, [ctypes.POINTER(PowerLimit), ctypes.c_size_t]),
    "wp_power_limit_set": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double]),
    "wp_power_limit_check": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_char_p]),
    "wp_powercap_state_path": (ctypes.c_char_p, [ctypes.c_char_p, ctypes.c_size_t]),
    "wp_powercap_records": (ctypes.c_int, [ctypes.POINTER(ctypes.POINTER(PowercapRecord)),
                                           ctypes.POINTER(ctypes.c_size_t)]),
    "wp_powercap_record": (ctypes.c_int, [ctypes.POINTER(PowerLimit),
                                          ctypes.POINTER(ctypes.c_double)]),
    "wp_powercap_forget": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]),
    "wp_powercap_lock": (ctypes.c_int, [ctypes.c_char_p]),
    "wp_powercap_unlock": (None, [ctypes.c_int]),
    "wp_cap_objective_parse": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]),
    "wp_cap_objective_value": (ctypes.c_double, [ctypes.c_int, ctypes.c_double, ctypes.c_double,
                                                 ctypes.c_double, ctypes.c_double]),
    "wp_cap_model_fit": (ctypes.c_int, [ctypes.POINTER(CapPoint), ctypes.c_size_t,
                                        ctypes.POINTER(CapModel)]),
    "wp_cap_plan": (ctypes.c_size_t, [ctypes.c_double, ctypes.c_double, ctypes.c_double,
                                      ctypes.c_size_t, ctypes.POINTER(ctypes.c_double)]),
}
for _name, (_res, _args) in _protos.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args


# The C library's stdio, for the FILE * that wp_report_write writes to.
libc = ctypes.CDLL(None)
libc.open_memstream.restype = P
libc.open_memstream.argtypes = [PP, ctypes.POINTER(ctypes.c_size_t)]
libc.fopen.restype = P
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fclose.argtypes = [P]
libc.free.argtypes = [P]
libc.free.restype = None
libc.strdup.argtypes = [ctypes.c_char_p]
libc.strdup.restype = P


def _strerror(code):
    s = lib.wp_strerror(code)
    return s.decode() if s else f"error {code}"


def check(rc, what):
    """rc if it is not negative, else WattprofError(rc, what)."""
    if rc < 0:
        raise WattprofError(rc, what)
    return rc
