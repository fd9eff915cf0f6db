from tests.train.conftest import compose_train, tiny_experiment  # noqa: F401
