from tests.inference.conftest import released_checkpoint  # noqa: F401, E402
from tests.train.conftest import compose_train, tiny_experiment  # noqa: F401
