"""Fixtures of the pipeline's tests."""

import pytest

from applications.models import Application
from applications.tests.factories import ApplicationFactory
from pipeline.numbering import application_register


@pytest.fixture
def application() -> Application:
    """An application as the API creates it: a row, and registered with the allocator."""
    application = ApplicationFactory()
    application_register(token=application.token)
    return application
