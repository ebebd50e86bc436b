"""Generate reports/README.md with the paper's tables and figures.

python stages/report.py

Reads  reports/eval/VIDEO/ of every personal VIDEO, reports/train/, data/sp/, data/transfer/
       (layouts: dancegen.evaluate.report)
Writes reports/metrics.json, reports/README.md, reports/figures/, reports/videos/
"""

import argparse

from dancegen.core.cli import run_stage
from dancegen.core.config import load_params
from dancegen.evaluate.report import ReportInputs, build_report


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    params = load_params()
    build_report(ReportInputs(list(params.personal), list(params.reference), list(params.train.variants)))


if __name__ == "__main__":
    run_stage("report", main)
