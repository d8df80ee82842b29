"""`quick_server.settings` (unit tests, no sockets): every setting's
default is the server's, a bad value is refused as it is set and names the
setting, a misspelt name is an AttributeError, the old names are aliases,
`check_together` refuses settings that do not fit, and the docs' table
(`settings_table_rst`) parses and gives every default."""
from __future__ import annotations

import inspect
import os
import re
import runpy
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from quick_server import create_server
from quick_server.server import QuickServer
from quick_server.settings import (ALIASES, SETTINGS, LimitsView,
                                   ServerAliases, Settings,
                                   WorkerPoolAliases, check_together,
                                   install_aliases, old_names,
                                   settings_table_rst)
from quick_server.setting_types import Setting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def value_of(settings: Settings, path: str) -> Any:
    group, name = path.split(".")
    return getattr(getattr(settings, group), name)


def old_value(server: QuickServer, old: str) -> Any:
    """The value a server has under the old attribute path (every one
    can be read before serving)."""
    value: Any = server
    for part in old.split("."):
        value = getattr(value, part)
    return value


@pytest.fixture(scope="module")
def server():
    made = create_server(("127.0.0.1", 0))
    made.server_close()
    return made


# -- defaults ---------------------------------------------------------------

def test_every_old_name_has_the_default_of_a_new_server(server):
    settings = Settings()
    assert len(ALIASES) >= 40
    for old, (group, name) in ALIASES.items():
        assert old_value(server, old) == value_of(
            settings, f"{group}.{name}"), old


def test_the_services_hub_reads_the_settings():
    assert inspect.signature(QuickServer.bind_services).parameters[
        "service_timeout"].default is None  # the setting's
    server = create_server(("127.0.0.1", 0))
    server.server_close()
    services = server.settings.services
    services.max_dead = 7
    with pytest.raises(TypeError, match=r"^settings\.services\."
                       r"service_timeout must be a number of seconds"):
        server.bind_services(key="k", service_timeout="5")
    server.bind_services(key="k")
    hub = server._services  # not public: the settings are
    assert hub is not None
    assert (hub.timeout, hub.max_jobs, hub.max_bytes, hub.max_dead,
            hub.dead_for) == (
        services.service_timeout, services.max_jobs, services.max_bytes,
        7, services.dead_for) == (30.0, 1000, 64 * 1024 * 1024, 7, 3600.0)
    services.max_jobs = 3
    assert hub.max_jobs == 3
    hub.max_bytes = 1000  # the hub's names set the settings
    assert services.max_bytes == 1000
    hub.close()
    other = create_server(("127.0.0.1", 0))
    other.server_close()
    other.bind_services(key="k", service_timeout=0.5)  # sets the setting
    assert other.settings.services.service_timeout == 0.5
    assert other._services is not None and other._services.timeout == 0.5
    other._services.close()


def read(*parts: str) -> str:
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return handle.read()


def test_the_docs_table_is_the_one_the_settings_make():
    """docs/settings.rst holds the table `settings_table_rst()` makes
    (a stale one fails the docs' build; `python docs/conf.py` writes it):
    no row is written by hand, none can drift."""
    page = read("docs", "settings.rst")
    conf = runpy.run_path(os.path.join(ROOT, "docs", "conf.py"))
    assert conf["with_settings_table"](page) == page  # current
    table = page.split(conf["TABLE_START"], 1)[1].split(conf["TABLE_END"])[0]
    assert table.strip() == settings_table_rst().strip()


def test_computed_defaults_are_computed_when_the_settings_are_made(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings().static.base_path == str(tmp_path)
    assert Settings().jobs.max_processes >= 1


# -- bad values -------------------------------------------------------------

@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.path)
def test_a_value_of_a_wrong_type_is_refused_and_named(setting: Setting[Any]):
    settings = Settings()
    group = getattr(settings, setting.group)
    before = getattr(group, setting.name)
    with pytest.raises(TypeError, match=rf"^settings\.{setting.path} must "):
        setattr(group, setting.name, object())
    assert getattr(group, setting.name) is before  # kept
    assert not settings.is_set(setting.path)


@pytest.mark.parametrize("path, value, error, what", [
    ("http.idle_timeout", "x", TypeError, "a number of seconds > 0"),
    ("http.idle_timeout", 0, ValueError, "a number of seconds > 0"),
    ("http.idle_timeout", -1.5, ValueError, "> 0"),
    ("http.idle_timeout", float("nan"), ValueError, "> 0"),
    ("http.idle_timeout", float("inf"), ValueError, "> 0"),
    ("http.idle_timeout", True, TypeError, "> 0"),
    ("http.shutdown_grace", -1, ValueError, ">= 0"),
    ("http.max_body_size", 1.5, TypeError, "a whole number of bytes >= 0"),
    ("http.max_body_size", -1, ValueError, "a whole number of bytes >= 0"),
    ("http.max_upload_size", "1M", TypeError, "bytes >= 0 or None"),
    ("http.max_line", 0, ValueError, "a whole number >= 1"),
    ("jobs.max_queue", -1, ValueError, "a whole number >= 0"),
    ("jobs.max_workers", 0, ValueError, "a whole number >= 1"),
    ("jobs.max_processes", "4", TypeError, "a whole number >= 1"),
    ("static.max_age", 1.5, TypeError, "whole number of seconds >= 0"),
    ("http.compress", 1, TypeError, "True or False"),
    ("http.compress", None, TypeError, "True or False"),
    ("dev.debug", "yes", TypeError, "None, True or False"),
    ("dev.prompt", None, TypeError, "a string"),
    ("static.base_path", None, TypeError, "a path"),
    ("static.favicon_fallback", 3, TypeError, "a path .* or None"),
    ("http.cross_origin", ["localhost:3000"], ValueError,
     "list of origins .*'localhost:3000' is not an origin"),
    ("http.cross_origin", 1, TypeError, "list of origins"),
    ("jobs.worker_executor", "threads", ValueError, "'thread', 'process'"),
    ("jobs.worker_executor", None, TypeError, "concurrent.futures"),
    ("jobs.cache", {}, TypeError, "QuickCache"),
])
def test_a_bad_value_is_refused_and_named(path, value, error, what):
    settings = Settings()
    with pytest.raises(error, match=rf"^settings\.{path} must be .*{what}"):
        setattr(getattr(settings, path.split(".")[0]), path.split(".")[1],
                value)


def test_a_log_format_that_cannot_be_filled_is_refused():
    settings = Settings()
    for bad in ("{nope}", "{} {status}", "{status:q}", "{ms"):
        with pytest.raises(ValueError, match=r"^settings\.log\.log_format: "
                           r".*fields: client, request"):
            settings.log.log_format = bad
    settings.log.log_format = "{method} {path} -> {status}"
    assert settings.log.log_format == "{method} {path} -> {status}"


def test_good_values_are_kept_as_given():
    settings = Settings()
    pool = ThreadPoolExecutor(1)
    try:
        for path, value in [
                ("http.idle_timeout", 5), ("http.idle_timeout", 0.3),
                ("http.max_upload_size", None), ("jobs.max_queue", 0),
                ("jobs.abandon_timeout", 0), ("jobs.sweep_interval", 0),
                ("http.cross_origin", ["http://localhost:3000"]),
                ("http.cross_origin", True), ("http.cross_origin", "*"),
                ("jobs.worker_executor", "process"),
                ("jobs.worker_executor", pool), ("dev.debug", False),
                ("dev.history_file", None), ("static.max_age", 60),
                ("static.favicon_fallback", "icons/site.ico")]:
            group, name = path.split(".")
            setattr(getattr(settings, group), name, value)
            assert getattr(getattr(settings, group), name) is value, path
            assert settings.is_set(path)
    finally:
        pool.shutdown()


def test_a_misspelt_name_is_an_error_listing_the_settings():
    settings = Settings()
    with pytest.raises(AttributeError, match=r"^settings\.http has no "
                       r"setting 'idle_timout' \(did you mean 'idle_timeout'"
                       r"\?\); its settings: idle_timeout, max_line"):
        settings.http.idle_timout = 5
    with pytest.raises(AttributeError, match="its settings: idle_timeout"):
        print(settings.http.idle_timout)
    with pytest.raises(AttributeError, match=r"no group 'htp' \(did you "
                       r"mean 'http'\?\); the groups: http, static, jobs"):
        print(settings.htp)
    with pytest.raises(AttributeError, match="cannot be set"):
        settings.http = settings.http
    with pytest.raises(AttributeError, match="cannot be set"):
        settings.extra = 1


# -- the old names ----------------------------------------------------------

class Dummy:
    """Something with settings, as the server is."""

    def __init__(self) -> None:
        self.settings = Settings()


def test_install_aliases_on_a_class():
    install_aliases(Dummy)
    install_aliases(Dummy, "workers.")  # max_workers is in both: the same
    dummy = Dummy()
    dummy.idle_timeout = 5
    assert dummy.settings.http.idle_timeout == 5
    dummy.settings.log.suppress_noise = True
    assert dummy.suppress_noise is True
    dummy.max_queue = 3
    assert dummy.settings.jobs.max_queue == 3
    with pytest.raises(TypeError, match=r"^settings\.http\.idle_timeout "
                       r"must be a number of seconds > 0, got 'x'"):
        dummy.idle_timeout = "x"
    assert dummy.settings.http.idle_timeout == 5
    assert "idle_timeout" in (Dummy.idle_timeout.__doc__ or "")


def test_install_aliases_refuses_a_name_the_class_has_and_a_prefix():
    class Old:
        settings = Settings()
        idle_timeout = 30.0
    with pytest.raises(TypeError, match="Old defines idle_timeout itself"):
        install_aliases(Old)
    with pytest.raises(ValueError, match="no old names under 'nope.'"):
        install_aliases(Old, "nope.")


def test_every_old_name_reads_and_sets_its_setting():
    class Server(ServerAliases):
        def __init__(self) -> None:
            self.settings = Settings()

    class Pool(WorkerPoolAliases):
        def __init__(self, settings: Settings) -> None:
            self.settings = settings

    class Live:
        def __init__(self, settings: Settings) -> None:
            self.settings = settings
    install_aliases(Live, "reloader.live.")
    server = Server()
    holders = {"": server, "limits.": LimitsView(server.settings),
               "workers.": Pool(server.settings),
               "reloader.live.": Live(server.settings)}
    assert {old.rpartition(".")[0] + "." if "." in old else ""
            for old in ALIASES} == set(holders)
    for old, (group, name) in ALIASES.items():
        prefix, _, attr = old.rpartition(".")
        holder = holders[prefix + "." if prefix else ""]
        setting = getattr(type(getattr(server.settings, group)), name)
        assert getattr(holder, attr) == setting.make_default(), old
        setattr(holder, attr, getattr(holder, attr))
        assert server.settings.is_set(f"{group}.{name}"), old
    LimitsView(server.settings).head_timeout = 0.3
    assert server.settings.http.head_timeout == 0.3
    server.max_workers = 3
    assert holders["workers."].max_workers == 3
    with pytest.raises(AttributeError):
        LimitsView(server.settings).max_lines = 1


# -- how the settings fit ---------------------------------------------------

def test_check_together():
    settings = Settings()
    check_together(settings)  # the defaults fit
    settings.http.max_upload_size = settings.http.max_file_size
    check_together(settings)
    settings.http.max_upload_size = 1000
    with pytest.raises(ValueError, match=r"settings\.http\.max_upload_size "
                       r"\(1000\) must be at least settings\.http\."
                       r"max_file_size \(52428800\)"):
        check_together(settings)
    settings.http.max_file_size = 1000
    check_together(settings)
    settings.jobs.redeliver_timeout = 700.0
    with pytest.raises(ValueError, match=r"settings\.jobs\.redeliver_timeout"
                       r" \(700\.0\) must be at most settings\.jobs\."
                       r"result_timeout \(600\.0\)"):
        check_together(settings)
    settings.jobs.result_timeout = 700.0
    check_together(settings)


def test_check_together_checks_a_value_changed_in_place():
    settings = Settings()
    origins = ["http://localhost:3000"]
    settings.http.cross_origin = origins
    origins.append("localhost:4000")
    settings.http.max_upload_size = 1
    with pytest.raises(ValueError) as err:
        check_together(settings)
    assert "settings.http.cross_origin" in str(err.value)
    assert "settings.http.max_upload_size (1)" in str(err.value)


# -- the docs' table, and status ----------------------------------------------

def test_the_rst_table_parses_and_gives_every_default():
    core = pytest.importorskip("docutils.core")
    nodes = pytest.importorskip("docutils.nodes")
    tree = core.publish_doctree(settings_table_rst(), settings_overrides={
        "halt_level": 2, "report_level": 5})  # a warning raises
    rows = [[entry.astext() for entry in row.findall(nodes.entry)]
            for row in tree.findall(nodes.row)]
    assert rows[0] == ["Setting", "Default", "Meaning", "Old name"]
    settings = Settings()
    assert [row[0] for row in rows[1:]] == [
        f"settings.{setting.path}" for setting in SETTINGS]
    for (name, default, meaning, old), setting in zip(rows[1:], SETTINGS):
        expected = setting.make_default()
        if setting.path == "jobs.max_processes" and \
                expected != os.cpu_count():
            expected = os.cpu_count()  # the docs say cpu_count (affinity)
        evaluated = eval(default, {"os": os, "sys": sys})  # noqa: S307
        assert evaluated == expected, name
        assert value_of(settings, setting.path) == setting.make_default()
        assert meaning and "\n" not in setting.doc, name
        assert old == ", ".join(old_names(setting)), name
    assert sum(len(old_names(setting)) for setting in SETTINGS) == \
        len(ALIASES)


def test_the_table_rows_read_as_the_docs_test_reads_them():
    rows = re.findall(r"^   \* - ``(.*)``\n     - ``(.*)``$",
                      settings_table_rst(), re.MULTILINE)
    assert [name for name, _ in rows] == [
        f"settings.{setting.path}" for setting in SETTINGS]


def test_as_dict_and_describe():
    settings = Settings()
    settings.http.idle_timeout = 5
    values = settings.as_dict()
    assert list(values) == [setting.path for setting in SETTINGS]
    assert values["http.idle_timeout"] == 5
    assert values["log.log_format"] == settings.log.log_format
    lines = settings.describe().splitlines()
    assert len(lines) == len(SETTINGS)
    assert "http.idle_timeout = 5  (default: 30.0)" in lines
    assert "http.max_line = 8192" in lines
    assert not settings.is_set("http.max_line")
    assert settings.is_set("http.idle_timeout")
    with pytest.raises(AttributeError):
        settings.is_set("http.nope")
