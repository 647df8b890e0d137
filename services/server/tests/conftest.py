import logging

import pytest
import structlog


@pytest.fixture(autouse=True)
def logging_as_it_was():
    """The CLI configures logging for the process, onto the stderr CliRunner lends it and closes:
    put everything back, or later tests of this worker log into a closed file."""
    saved = structlog.get_config()
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    state = [(logger, logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    yield
    structlog.configure(**saved)
    for logger, handlers, propagate, level in state:
        logger.handlers[:], logger.propagate = handlers, propagate
        logger.setLevel(level)
