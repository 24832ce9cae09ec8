from django.apps import AppConfig


class PipelineConfig(AppConfig):
    """The write pipeline: from an accepted create to its row in SQL (see pipeline/__init__.py)."""

    name = "pipeline"
