"""Functions that report their environment, for the tests of secrets."""

import os

import ketch

NAMED = "ketch-test-named"  # created by the tests before the app starts
DICT_VALUE = "dict-value-5b0c1e7a"

app = ketch.App(
    "secrets", secrets=[ketch.Secret.from_dict({"APP_WIDE": "everywhere", "SHARED": "app"})]
)


def env_of(names):
    return {name: os.environ.get(name) for name in names}


@app.function(secrets=[ketch.Secret.from_name(NAMED, required_keys=["TOKEN"]),
                       ketch.Secret.from_dict({"SHARED": "function", "FROM_DICT": DICT_VALUE})])
def with_secrets(names):
    return env_of(names)


@app.function()
def without_secrets(names):
    return env_of(names)


@app.function(secrets=[ketch.Secret.from_dict({"BOTH": "secret"})], env={"BOTH": "env"})
def env_and_secret(names):
    return env_of(names)


@app.cls(secrets=[ketch.Secret.from_dict({"CLS_KEY": "cls-value"})])
class Reader:
    @ketch.method()
    def env(self, names):
        return env_of(names)
