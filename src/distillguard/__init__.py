"""distillguard: detect, attribute and stop adversarial distillation campaigns in LLM API logs."""

__version__ = "0.1.0"
