"""Judging the results: no-learning baselines, image and pose metrics, the evaluation of test pairs,
the paper's figures and the Markdown / HTML report.
"""
