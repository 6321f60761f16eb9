"""scripts/nightly.sh exits 0 on a passing run with no slow tests, and 1 when a verdict changes
(the rows are not rerun here: NIGHTLY_SKIP_RUNS compares results already in NIGHTLY_DIR)."""
import shutil
import subprocess

from ._synth import REPO, plugin_env, write_fake_results


def _nightly(tmp_path, nightly_results):
    empty = tmp_path / "no_tests"
    empty.mkdir(exist_ok=True)
    env = plugin_env(NIGHTLY_DIR=str(tmp_path / "nightly"), NIGHTLY_SKIP_RUNS="1", NIGHTLY_SKIP_BENCH="1",
                     NIGHTLY_PAPERS="zz_fake", NIGHTLY_REFERENCE=str(tmp_path / "ref"),
                     NIGHTLY_SLOW_TESTS=str(empty))
    shutil.rmtree(tmp_path / "nightly", ignore_errors=True)
    shutil.copytree(nightly_results, tmp_path / "nightly" / "results")
    return subprocess.run(["bash", str(REPO / "scripts" / "nightly.sh")], cwd=REPO, env=env,
                          capture_output=True, text=True)


def test_nightly_passes_with_no_slow_tests_and_fails_on_a_changed_verdict(tmp_path):
    write_fake_results(tmp_path / "ref")
    p = _nightly(tmp_path, write_fake_results(tmp_path / "same"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "no slow tests selected" in p.stdout
    assert (tmp_path / "nightly" / "RESULTS.md").is_file()
    p = _nightly(tmp_path, write_fake_results(tmp_path / "worse", acc_a=(0.70, 0.71, 0.72)))
    assert p.returncode == 1
    assert "verdict changed" in p.stderr
