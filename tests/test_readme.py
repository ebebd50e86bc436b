"""README.md's pipeline graph is `dvc dag --md` of this dvc.yaml and params.yaml (`make dag` writes it)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_graph_is_what_dvc_dag_prints():
    done = subprocess.run([sys.executable, "-m", "dvc", "dag", "--md"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- dag:begin -->\n")[1].split("<!-- dag:end -->")[0]
    assert block.strip() == done.stdout.strip(), "README.md's graph is out of date: run make dag"
