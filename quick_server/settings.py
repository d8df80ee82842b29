"""Every setting of a server in one object, `server.settings`, grouped
(`http`, `static`, `jobs`, `services`, `dev`, `log`): each has a default,
a one-line doc and a check that refuses a bad value as it is set, naming
the setting. `check_together` checks how they fit when serving starts;
the old attribute names (`server.idle_timeout`, `server.limits.max_line`,
`server.workers.max_queue`) stay as aliases (`ALIASES`); the settings
table of the docs is written by `settings_table_rst`, so it cannot drift.

What a setting is: `setting_types.py`; the checks of a value:
`setting_checks.py`. Only leaf modules (the owners of a rule) are
imported: any module may import this one."""
from __future__ import annotations

import os
import reprlib
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from . import log
from . import setting_checks as checks
from .notebook import IN_KERNEL, in_kernel
from .setting_types import MIB, Alias, Computed, Group, Setting

T = TypeVar("T")


def default_processes() -> int:
    """The cores this process may use: the "process" executor's size."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class HttpSettings(Group):
    """`server.settings.http`: connections, requests and answers."""
    group = "http"
    __slots__ = ()
    idle_timeout = Setting(30.0, "the longest a connection may wait for the "
                           "client, between requests or within one (a "
                           "stalled upload or download is dropped)",
                           checks.seconds())
    max_line = Setting(8192, "the request line (414 past it)",
                       checks.count(1))
    max_header_bytes = Setting(65536, "all header lines (431 past it)",
                               checks.count(1))
    max_headers = Setting(100, "the number of header fields (431 past it)",
                          checks.count(1))
    head_timeout = Setting(20.0, "a request head must be complete within it "
                           "(408)", checks.seconds())
    max_body_size = Setting(10 * MIB, "a request body that is not "
                            "multipart, and each form field (413 past it)",
                            checks.size())
    max_file_size = Setting(50 * MIB, "each uploaded file", checks.size())
    max_upload_size: Setting[int | None] = Setting(
        None, "a whole multipart body (``None``: ``max_file_size + "
        "max_body_size``)", checks.size(optional=True))
    spool_threshold = Setting(MIB, "an uploaded file larger than this is "
                              "spooled to a temporary file", checks.size())
    drain_limit = Setting(MIB, "the unread rest of a body the answer did "
                          "not need is read and dropped up to this size to "
                          "keep the connection open (past it: closed)",
                          checks.size())
    compress = Setting(True, "gzip text answers for clients that accept it",
                       checks.flag())
    compress_min_size = Setting(1024, "smaller answers go out uncompressed",
                                checks.size())
    compress_max_file = Setting(64 * MIB, "a static file larger than this "
                                "goes out uncompressed", checks.size())
    compress_cache_bytes = Setting(
        256 * MIB, "the gzip forms of static files over 4 MiB, made once and "
        "kept on disk while the server runs (the least recently used go "
        "first)", checks.size())
    cross_origin: Setting[Any] = Setting(
        False, "CORS: ``True`` for any origin without credentials, or a "
        "list of origins allowed with credentials", checks.cross_origin)
    extra_headers: Setting[dict[str, str]] = Setting(
        Computed(dict, "{}"), "headers put on every answer, replacing "
        "fields of the same name (``Vary`` and ``Set-Cookie`` are added "
        "instead): ``{\"Cross-Origin-Opener-Policy\": \"same-origin\"}``",
        checks.extra_headers)
    proxy_timeout = Setting(30.0, "a proxied request without an answer "
                            "within it is a 504", checks.seconds())
    shutdown_grace = Setting(10.0, "how long a stopping server waits for "
                             "requests in flight",
                             checks.seconds(above=False))
    pool_size = Setting(64, "threads that answer requests whose handler "
                        "does not return within a few milliseconds (503 "
                        "with Retry-After past them; waits by design do "
                        "not count)", checks.count(1))
    backlog = Setting(1024, "connections the kernel queues before they are "
                      "accepted", checks.count(1))
    max_connections = Setting(32768, "open connections held at once (past "
                              "it, new ones wait in the backlog)",
                              checks.count(1))
    switch_interval = Setting(0.0002, "seconds a thread keeps the GIL "
                              "while another waits for it, while serving "
                              "(``sys.setswitchinterval``; Python's own is "
                              "0.005): with a job computing on a thread, "
                              "the event loop gets its turn within it",
                              checks.seconds())


class StaticSettings(Group):
    """`server.settings.static`: files served from bound folders."""
    group = "static"
    __slots__ = ()
    base_path: Setting[Any] = Setting(
        Computed(lambda: os.path.abspath("."), 'os.path.abspath(".")'),
        "the folder that relative paths (``bind_path``, ``watch``, "
        "``favicon_fallback``) start from", checks.path())
    directory_listing = Setting(False, "list a folder that has no "
                                "``index.html``", checks.flag())
    favicon_fallback: Setting[Any] = Setting(
        None, "a file (relative to ``base_path``) that answers "
        "``/favicon.ico`` when no folder has one", checks.path(optional=True))
    max_age: Setting[int | None] = Setting(
        None, "``Cache-Control: max-age`` of static files (``None``: "
        "``no-cache``, revalidated with the ETag)",
        checks.number("a whole number of seconds", 0, whole=True,
                      optional=True))
    spa_fallback: Setting[str | None] = Setting(
        None, "a page (a URL path, ``\"/index.html\"``) that answers, with "
        "200, a ``GET`` or ``HEAD`` accepting ``text/html`` that no file, "
        "route or proxy answers: a single-page app's history fallback",
        checks.url_path(optional=True))


class JobSettings(Group):
    """`server.settings.jobs`: workers, executors and the job table."""
    group = "jobs"
    __slots__ = ()
    worker_executor: Setting[Any] = Setting(
        "thread", "where jobs of workers without ``executor=`` run: "
        "``\"thread\"``, ``\"process\"`` or a ``concurrent.futures."
        "Executor``", checks.executor)
    max_workers = Setting(8, "jobs running at once on the ``\"thread\"`` "
                          "executor", checks.count(1))
    max_processes: Setting[int] = Setting(
        Computed(default_processes, "os.cpu_count()"), "job processes of "
        "the ``\"process\"`` executor (the cores this process may use); "
        "setting it forks the pool when serving starts", checks.count(1))
    max_chunk_size = Setting(10 * MIB, "a job result longer than this is "
                             "sent in parts (cargo)", checks.count(1))
    max_queue = Setting(256, "jobs waiting to run; past it a ``start`` is "
                        "a 503", checks.count(0))
    max_result_bytes = Setting(256 * MIB, "results waiting for their "
                               "client, in all", checks.size())
    abandon_timeout = Setting(120.0, "a job nobody asks about for this "
                              "long is cancelled",
                              checks.seconds(above=False))
    result_timeout = Setting(600.0, "a finished job's result (or file) is "
                             "kept this long after the last request about "
                             "it", checks.seconds(above=False))
    redeliver_timeout = Setting(60.0, "the final reply and cargo parts can "
                                "be asked for again this long",
                                checks.seconds(above=False))
    start_wait = Setting(0.05, "a ``start`` without ``wait`` waits this "
                         "long for a quick job's result",
                         checks.seconds(above=False))
    sweep_interval = Setting(1.0, "finished and abandoned jobs are looked "
                             "for at most this often",
                             checks.seconds(above=False))
    drain_timeout = Setting(600.0, "on a restart under ``setup_restart``, "
                            "the old process finishes its running jobs "
                            "for at most this long (0: they run again or "
                            "fail with ``JobLost``)",
                            checks.seconds(above=False))
    cancel_grace = Setting(0.5, "a cancelled job on a thread gets "
                           "``WorkerDeath`` raised this long after its flag "
                           "was set", checks.seconds(above=False))
    cache: Setting[Any] = Setting(None, "a ``quick_cache.QuickCache`` for "
                                  "``cache_id``", checks.cache)
    max_store_bytes = Setting(512 * MIB, "the job store's payloads, "
                              "results and errors, in all (the oldest "
                              "finished jobs go first)", checks.size())


class ServiceSettings(Group):
    """`server.settings.services`: remote services that pull jobs."""
    group = "services"
    __slots__ = ()
    service_timeout = Setting(30.0, "a service silent this long is dead",
                              checks.seconds())
    max_jobs = Setting(1000, "jobs queued for or running on services; past "
                       "it a ``start`` is a 503", checks.count(0))
    max_bytes = Setting(64 * MIB, "the JSON of those jobs' payloads, in all",
                        checks.size())
    max_dead = Setting(100, "dead services still listed", checks.count(0))
    dead_for = Setting(3600.0, "how long a dead service stays listed",
                       checks.seconds(above=False))


class DevSettings(Group):
    """`server.settings.dev`: restarts, live reload and the terminal."""
    group = "dev"
    __slots__ = ()
    auto_restart = Setting(False, "restart when a source file changes",
                           checks.flag())
    live_reload = Setting(False, "browsers reload when a served file "
                          "changes", checks.flag())
    max_listeners = Setting(100, "browsers listening for live reload at "
                            "once", checks.count(0))
    debug: Setting[bool | None] = Setting(
        None, "who sees error details: ``None`` clients on this machine "
        "that no proxy forwarded, ``True`` everyone, ``False`` no one",
        checks.flag(optional=True))
    no_command_loop: Setting[bool] = Setting(
        Computed(in_kernel, IN_KERNEL), "no command prompt on the terminal "
        "(on in a Jupyter kernel, whose standard input is no terminal)",
        checks.flag())
    prompt = Setting("> ", "the command prompt", checks.text)
    history_file: Setting[Any] = Setting(
        ".cmd_history", "where the commands' history is kept (``None``: "
        "nowhere)", checks.path(optional=True))


class LogSettings(Group):
    """`server.settings.log`: the request log."""
    group = "log"
    __slots__ = ()
    suppress_noise: Setting[bool] = Setting(
        Computed(in_kernel, IN_KERNEL), "log only requests that did not "
        "succeed (on in a Jupyter kernel: a request line would show in "
        "whichever cell runs)", checks.flag())
    report_slow_requests = Setting(False, "mark requests slower than "
                                   "``slow_request`` in the log",
                                   checks.flag())
    slow_request = Setting(5.0, "what is slow", checks.seconds(above=False))
    log_format = Setting(log.REQUEST_FORMAT, "the request line of the log, "
                         "a ``str.format`` template of its fields",
                         checks.log_format)


GROUPS: tuple[type[Group], ...] = (HttpSettings, StaticSettings, JobSettings,
                                   ServiceSettings, DevSettings, LogSettings)
SETTINGS: tuple[Setting[Any], ...] = tuple(
    setting for group in GROUPS for setting in group.all)


class Settings:
    """Every setting of a server, by group: `settings.http.idle_timeout`.
    The groups are fixed; their settings are checked as they are set."""

    __slots__ = tuple(group.group for group in GROUPS)
    http: HttpSettings
    static: StaticSettings
    jobs: JobSettings
    services: ServiceSettings
    dev: DevSettings
    log: LogSettings

    def __init__(self) -> None:
        for group in GROUPS:
            object.__setattr__(self, group.group, group())

    if not TYPE_CHECKING:
        def __setattr__(self, name: str, value: Any) -> None:
            raise AttributeError(
                f"settings.{name} cannot be set: set a setting of a group "
                f"(settings.http.idle_timeout = 5); the groups: "
                f"{', '.join(Settings.__slots__)}")

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            import difflib  # loaded on first use
            close = difflib.get_close_matches(name, Settings.__slots__, 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise AttributeError(
                f"settings has no group {name!r}{hint}; the groups: "
                f"{', '.join(Settings.__slots__)}")

    def value(self, setting: Setting[T]) -> T:
        """The value of `setting` (one of `SETTINGS`) here."""
        group: Group = getattr(self, setting.group)
        value: T = getattr(group, setting.name)
        return value

    def as_dict(self) -> dict[str, Any]:
        """`group.name` -> value, for every setting."""
        return {setting.path: self.value(setting) for setting in SETTINGS}

    def describe(self) -> str:
        """One line per setting, `group.name = value`, with the default
        after each changed one: for a `status` command."""
        lines = []
        for setting in SETTINGS:
            value = self.value(setting)
            line = f"{setting.path} = {reprlib.repr(value)}"
            if value != setting.make_default():
                line += f"  (default: {setting.literal})"
            lines.append(line)
        return "\n".join(lines)

    def is_set(self, path: str) -> bool:
        """Whether the setting `group.name` was ever set (to any value,
        its default too): e.g. setting `jobs.max_processes` says the
        process pool will be used."""
        group_name, _, name = path.partition(".")
        group = getattr(self, group_name)
        getattr(group, name)  # AttributeError for an unknown setting
        return name in group._assigned  # pylint: disable=protected-access

    def __repr__(self) -> str:
        return f"<Settings: {len(SETTINGS)} settings in " \
            f"{', '.join(Settings.__slots__)}>"


# -- the old names ----------------------------------------------------------


class ServerAliases:
    """The old flat names of `QuickServer` (`server.idle_timeout`): a
    mixin (typed, for mypy) of a class with a `settings` attribute."""
    _prefix: ClassVar[str] = ""
    settings: Settings
    __slots__ = ()
    idle_timeout = Alias(HttpSettings.idle_timeout)
    max_body_size = Alias(HttpSettings.max_body_size)
    max_file_size = Alias(HttpSettings.max_file_size)
    max_upload_size = Alias(HttpSettings.max_upload_size)
    spool_threshold = Alias(HttpSettings.spool_threshold)
    drain_limit = Alias(HttpSettings.drain_limit)
    compress = Alias(HttpSettings.compress)
    compress_min_size = Alias(HttpSettings.compress_min_size)
    cross_origin = Alias(HttpSettings.cross_origin)
    extra_headers = Alias(HttpSettings.extra_headers)
    proxy_timeout = Alias(HttpSettings.proxy_timeout)
    shutdown_grace = Alias(HttpSettings.shutdown_grace)
    base_path = Alias(StaticSettings.base_path)
    directory_listing = Alias(StaticSettings.directory_listing)
    favicon_fallback = Alias(StaticSettings.favicon_fallback)
    max_age = Alias(StaticSettings.max_age)
    worker_executor = Alias(JobSettings.worker_executor)
    max_workers = Alias(JobSettings.max_workers)
    max_processes = Alias(JobSettings.max_processes)
    max_chunk_size = Alias(JobSettings.max_chunk_size)
    cache = Alias(JobSettings.cache)
    auto_restart = Alias(DevSettings.auto_restart)
    live_reload = Alias(DevSettings.live_reload)
    debug = Alias(DevSettings.debug)
    no_command_loop = Alias(DevSettings.no_command_loop)
    prompt = Alias(DevSettings.prompt)
    history_file = Alias(DevSettings.history_file)
    suppress_noise = Alias(LogSettings.suppress_noise)
    report_slow_requests = Alias(LogSettings.report_slow_requests)
    slow_request = Alias(LogSettings.slow_request)
    log_format = Alias(LogSettings.log_format)


class LimitsView:
    """`server.limits`: the limits of a request head, by their old names
    (`LimitsView(server.settings)`; it quacks like `wire.Limits`)."""
    _prefix: ClassVar[str] = "limits."
    __slots__ = ("settings",)
    max_line = Alias(HttpSettings.max_line)
    max_header_bytes = Alias(HttpSettings.max_header_bytes)
    max_headers = Alias(HttpSettings.max_headers)
    head_timeout = Alias(HttpSettings.head_timeout)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


class WorkerPoolAliases:
    """The old names on `server.workers` (the job table): a mixin of a
    class with a `settings` attribute."""
    _prefix: ClassVar[str] = "workers."
    settings: Settings
    __slots__ = ()
    max_workers = Alias(JobSettings.max_workers)
    max_queue = Alias(JobSettings.max_queue)
    max_result_bytes = Alias(JobSettings.max_result_bytes)
    abandon_timeout = Alias(JobSettings.abandon_timeout)
    result_timeout = Alias(JobSettings.result_timeout)
    redeliver_timeout = Alias(JobSettings.redeliver_timeout)
    start_wait = Alias(JobSettings.start_wait)
    sweep_interval = Alias(JobSettings.sweep_interval)
    cancel_grace = Alias(JobSettings.cancel_grace)


class LiveReloadAliases:
    """The old name on `server.reloader.live` (documented in live.rst)."""
    _prefix: ClassVar[str] = "reloader.live."
    settings: Settings
    __slots__ = ()
    max_listeners = Alias(DevSettings.max_listeners)


ALIAS_CLASSES: tuple[type, ...] = (ServerAliases, LimitsView,
                                   WorkerPoolAliases, LiveReloadAliases)


def _aliases_of(cls: type) -> dict[str, Alias[Any]]:
    return {name: value for name, value in vars(cls).items()
            if isinstance(value, Alias)}


# old attribute path (from the server) -> (group, setting)
ALIASES: dict[str, tuple[str, str]] = {
    getattr(cls, "_prefix") + name: (alias.setting.group, alias.setting.name)
    for cls in ALIAS_CLASSES for name, alias in _aliases_of(cls).items()}


def install_aliases(cls: type[T], prefix: str = "") -> type[T]:
    """Adds to `cls` (whose instances have a `settings` attribute) the old
    names under `prefix` ("" the server's own, "workers.", "limits.",
    "reloader.live."): `obj.idle_timeout = 5` sets
    `obj.settings.http.idle_timeout`. TypeError when `cls` defines one of
    those names as something else (remove it first). Returns `cls`."""
    source = next((c for c in ALIAS_CLASSES
                   if getattr(c, "_prefix") == prefix), None)
    if source is None:
        raise ValueError(f"no old names under {prefix!r}; the prefixes: "
                         f"{[getattr(c, '_prefix') for c in ALIAS_CLASSES]}")
    aliases = _aliases_of(source)
    clashes = sorted(name for name in aliases if name in vars(cls) and (
        getattr(vars(cls)[name], "setting", None) is not
        aliases[name].setting))  # the same alias again is no clash
    if clashes:
        raise TypeError(f"{cls.__name__} defines {', '.join(clashes)} "
                        f"itself: remove them to alias the settings")
    for name, alias in aliases.items():
        setattr(cls, name, alias)
    return cls


# -- checks at the start, and the docs' table --------------------------------


def check_together(settings: Settings) -> None:
    """Called when serving starts: checks every value again (a list may
    have changed in place since it was set) and how the settings fit
    together. One ValueError naming each setting that does not fit."""
    problems = []
    for setting in SETTINGS:
        try:
            setting.check(settings.value(setting), setting.label)
        except (TypeError, ValueError) as err:
            problems.append(str(err))
    http, jobs = settings.http, settings.jobs
    if http.max_upload_size is not None and \
            http.max_upload_size < http.max_file_size:
        problems.append(
            f"settings.http.max_upload_size ({http.max_upload_size}) must "
            f"be at least settings.http.max_file_size "
            f"({http.max_file_size}): no file of that size could be "
            f"uploaded (lower max_file_size too)")
    if jobs.redeliver_timeout > jobs.result_timeout:
        problems.append(
            f"settings.jobs.redeliver_timeout ({jobs.redeliver_timeout}) "
            f"must be at most settings.jobs.result_timeout "
            f"({jobs.result_timeout}): a result is gone before its reply "
            f"could be asked for again")
    if problems:
        raise ValueError("; ".join(problems))


def old_names(setting: Setting[Any]) -> list[str]:
    """The old attribute paths (from the server) of `setting`."""
    return [old for old, (group, name) in ALIASES.items()
            if (group, name) == (setting.group, setting.name)]


def settings_table_rst() -> str:
    """The reStructuredText list-table of every setting: its name in
    `server.settings`, its default (a Python expression), its meaning and
    its old names. docs/settings.rst is made from it."""
    lines = [".. list-table::", "   :header-rows: 1",
             "   :widths: 30 20 34 16", "",
             "   * - Setting", "     - Default", "     - Meaning",
             "     - Old name"]
    import textwrap  # loaded on first use (the docs build)
    for setting in SETTINGS:
        old = ", ".join(f"``{name}``" for name in old_names(setting))
        lines += [f"   * - ``settings.{setting.path}``",
                  f"     - ``{setting.literal}``",
                  "     - " + "\n       ".join(textwrap.wrap(
                      setting.doc, 66, break_on_hyphens=False,
                      break_long_words=False)),
                  f"     - {old}".rstrip()]
    return "\n".join(lines) + "\n"
