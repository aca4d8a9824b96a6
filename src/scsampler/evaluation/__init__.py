"""The evaluation protocol: one dense pass per test video, every strategy replayed from it, tables,
figures and ``report.html``."""

from scsampler.evaluation.runner import EvaluationConfig, EvaluationResult, evaluate

__all__ = ["EvaluationConfig", "EvaluationResult", "evaluate"]
