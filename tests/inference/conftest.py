import pytest

from tests.inference.helpers import save_released_checkpoint, tiny_model


@pytest.fixture(scope="session")
def released_checkpoint(tmp_path_factory, tiny_tokenizer):
    """A tiny UniPixel saved exactly like a released checkpoint, tokenizer included (built once per session)."""
    folder = tmp_path_factory.mktemp("released_tiny")
    return save_released_checkpoint(tiny_model(tiny_tokenizer), tiny_tokenizer, folder)
