"""test_mpi.py - the binding under mpi4py (wattprof.mpi, docs/MPI.md): real
ranks started by Open MPI's mpirun on this machine as two simulated nodes,
each with its own WATTPROF_NODE_NAME and powercap tree, as the C tests do
(tests/test_mpi.c).  Each rank adds known energy to its node's counter
inside and outside its regions; the job's run must hold each node once, and
each region once with each node's energy in it and every rank's time.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

from fake_sysfs import FakeRapl

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)

# The program every rank runs: adds IN x (round + 1) J in region "step"
# twice, then OUT J outside every region; 400 ms from every edge, so that
# the node's samples (20 a second) see each addition inside or outside.
PROGRAM = textwrap.dedent("""
    import fcntl, os, sys, time
    from mpi4py import MPI
    from wattprof import mpi as wpmpi

    mode, joules_in, joules_out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    comm = MPI.COMM_WORLD

    def add(joules):
        path = os.path.join(os.environ["WATTPROF_SYSFS_ROOT"],
                            "class/powercap/intel-rapl:0/energy_uj")
        with open(path, "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # the node's ranks share the counter
            uj = int(f.read()) + round(joules * 1e6)
            f.seek(0)
            f.write(str(uj) + "\\n")
            f.truncate()

    if mode == "perun":  # perun's decorator, under `wattprof exec`
        import wattprof.perun as perun
        assert wpmpi.measuring()
        mark = perun.monitor("step", data_out="perun_results")
    else:
        attached = wpmpi.attach()
        assert attached == (mode != "exec"), (mode, attached)
        mark = wpmpi.region("step")

    @mark
    def step(joules):
        time.sleep(0.4)
        add(joules)
        time.sleep(0.4)

    for round_ in range(2):
        comm.Barrier()
        step(joules_in * (round_ + 1))
    comm.Barrier()
    time.sleep(0.4)
    add(joules_out)
    try:
        wpmpi.end()
    except wpmpi.WattprofError as e:
        assert "cannot end the region" in str(e), e
    else:
        raise AssertionError("end() with no region open did not fail")
    if mode == "finish":
        run_id = wpmpi.finish()
        assert (run_id > 0) == (comm.Get_rank() == 0), run_id
        if comm.Get_rank() == 0:
            print("job run", run_id)
    if mode == "finalize":  # too early: the job cannot be stored, the nodes' runs are
        MPI.Finalize()
    # "exec": MPI_Finalize stores the job; "atexit": attach()'s exit handler
""")


def _needs():
    """Why this machine cannot run the tests, or None."""
    if not shutil.which("mpirun"):
        return "mpirun is not installed (openmpi-bin)"
    lib = os.environ.get("WATTPROF_MPI_LIB")
    if not lib or not os.path.exists(lib):
        return ("WATTPROF_MPI_LIB names no libwattprof-mpi.so (make test-python sets it "
                "where an MPI compiler was found at build time)")
    if subprocess.run([sys.executable, "-c", "import mpi4py"],
                      capture_output=True).returncode != 0:
        return f"{sys.executable} has no mpi4py (python3-mpi4py)"
    return None


@unittest.skipIf(_needs(), _needs())
class MpiTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="wattprof-mpi-py-")
        self.nodes = [FakeRapl(zones=(("intel-rapl:0", "package-0"),)) for _ in range(2)]
        with open(os.path.join(self.dir, "prog.py"), "w") as f:
            f.write(PROGRAM)

    def tearDown(self):
        for n in self.nodes:
            n.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_job(self, mode, ppn=2):
        """Runs the job; node a's ranks add IN 1.5 and OUT 0.5 J, b's 2.5 and
        0.75.  Returns what mpirun printed."""
        build = os.path.dirname(os.environ["WATTPROF_LIB"])
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   WATTPROF_DATABASE=os.path.join(self.dir, "job.db"),
                   WATTPROF_MPI_DIR=os.path.join(self.dir, "mpi"),
                   PYTHONPATH=PKG + os.pathsep + os.environ.get("PYTHONPATH", ""))
        cmd = ["timeout", "120", "mpirun", "--oversubscribe"]
        for k, (name, jin, jout) in enumerate((("node-a", 1.5, 0.5), ("node-b", 2.5, 0.75))):
            if k:
                cmd.append(":")
            cmd += ["-np", str(ppn), "-x", f"WATTPROF_NODE_NAME={name}",
                    "-x", f"WATTPROF_SYSFS_ROOT={self.nodes[k].root}",
                    "-x", "WATTPROF_FREQUENCY=20", "-x", "PYTHONPATH", "-x", "WATTPROF_LIB",
                    "-x", "WATTPROF_MPI_LIB"]
            if mode in ("exec", "perun"):
                cmd += [os.path.join(build, "wattprof"), "exec"]
            cmd += [sys.executable, "prog.py", mode, str(jin), str(jout)]
        p = subprocess.run(cmd, cwd=self.dir, env=env, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stdout

    def check_job(self, ppn=2):
        from wattprof import Store
        with Store(os.path.join(self.dir, "job.db"), create=False) as s:
            runs = s.runs()
        self.assertEqual(len(runs), 1)
        run = runs[0]
        self.assertEqual(run.status, "finished")
        self.assertEqual(run.tags["mpi_ranks_per_node"], f"node-a:{ppn},node-b:{ppn}")
        energy = {d["name"]: d["energy_j"] for d in run.report["domains"]}
        # Each node once: what its ranks added.
        self.assertAlmostEqual(energy["node-a/package_0"], ppn * (3 * 1.5 + 0.5), places=6)
        self.assertAlmostEqual(energy["node-b/package_0"], ppn * (3 * 2.5 + 0.75), places=6)
        regions = run.report["regions"]
        self.assertEqual([g["tag"] for g in regions], ["step", "step"])
        for k, g in enumerate(regions):
            self.assertAlmostEqual(g["energy_j"]["node-a/package_0"], ppn * 1.5 * (k + 1), places=6)
            self.assertAlmostEqual(g["energy_j"]["node-b/package_0"], ppn * 2.5 * (k + 1), places=6)
            self.assertEqual([t["rank"] for t in g["ranks"]], list(range(2 * ppn)))
            self.assertEqual([t["node"] for t in g["ranks"]],
                             ["node-a"] * ppn + ["node-b"] * ppn)
            for t in g["ranks"]:
                self.assertGreaterEqual(t["duration_s"], 0.79)
                self.assertGreaterEqual(t["start_s"], g["start_s"] - 1e-9)
                self.assertLessEqual(t["start_s"] + t["duration_s"],
                                     g["start_s"] + g["duration_s"] + 1e-9)
        return run

    def test_regions_under_wattprof_exec(self):
        """Preloaded by `wattprof exec`: attached at mpi4py's MPI_Init,
        stored at its MPI_Finalize; attach() says it was already."""
        self.run_job("exec")
        self.check_job()

    def test_perun_monitor_is_a_region_of_the_job(self):
        """perun's @monitor in a rank of a measured job: a region across
        ranks, not a measurement per rank (which would count each node once
        per rank), and no report file per rank."""
        self.run_job("perun")
        self.check_job()
        self.assertFalse(os.path.exists(os.path.join(self.dir, "perun_results")))

    def test_finalize_before_finish_keeps_the_nodes(self):
        """MPI.Finalize() called before the job was stored: the program
        ends normally, no job run, each node's own run finished with its
        energy."""
        from wattprof import Store
        self.run_job("finalize", ppn=1)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "job.db")))
        mpi_dir = os.path.join(self.dir, "mpi")
        for name, joules in (("node-a", 3 * 1.5 + 0.5), ("node-b", 3 * 2.5 + 0.75)):
            (db,) = [f for f in os.listdir(mpi_dir) if f.endswith(f"-{name}.db")]
            with Store(os.path.join(mpi_dir, db), create=False) as s:
                (run,) = s.runs()
            self.assertEqual(run.status, "finished")
            self.assertAlmostEqual(run.cpu_j, joules, places=6)
        errors = [f for f in os.listdir(mpi_dir) if f.endswith(".errors")]
        with open(os.path.join(mpi_dir, errors[0])) as f:
            self.assertIn("MPI was finalized before wp_mpi_finish", f.read())

    def test_attach_and_finish(self):
        """A plain mpirun: attach() starts it, finish() stores the job and
        gives rank 0 its id."""
        out = self.run_job("finish")
        run = self.check_job()
        self.assertIn(f"job run {run.id}", out)

    def test_attach_stored_at_exit(self):
        """attach() without finish(): stored at exit, before mpi4py's
        MPI_Finalize."""
        self.run_job("atexit", ppn=1)
        self.check_job(ppn=1)


if __name__ == "__main__":
    unittest.main()
