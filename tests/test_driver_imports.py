"""The curate driver starts before Ray does: what it imports is start-up every job pays."""

import subprocess
import sys

#: modules the driver never needs (the stages import them in their workers, when they run)
HEAVY = ("torch", "scipy.optimize", "onnxruntime", "dlib", "ray.data")


def test_curate_driver_imports_stay_light():
    code = (
        "import sys, humo_data.cli, humo_data.jobs.curate\n"
        "from humo_data.config import load_config\n"
        "from humo_data.jobs.plan import CurationPlan\n"
        "CurationPlan.build(load_config('default', [])).preflight()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"imported before Ray starts: {out.stdout.strip()}"
