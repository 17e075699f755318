"""Settings: defaults <- config.toml <- ARENA_<SECTION>__<KEY>; a wrong key stops start-up."""

from pathlib import Path

import pytest

from server.config import ConfigError, Settings, ensure_secret_key, load_settings
from server.config import PROJECT_ROOT


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_settings_shipped_config_file_loads_with_documented_defaults():
    settings = load_settings(PROJECT_ROOT / "config.toml", environ={})

    assert settings.server.port == 5000
    assert settings.server.async_mode == "eventlet"
    assert settings.database.url.startswith("sqlite:///")
    assert settings.languages.default == "sv"
    assert settings.chat.message_max_length == 500


def test_settings_environment_overrides_file(tmp_path):
    config = write_config(tmp_path, "[server]\nport = 6000\n")

    settings = load_settings(config, environ={"ARENA_SERVER__PORT": "7000",
                                              "ARENA_DATABASE__URL": "postgresql+psycopg://x@127.0.0.1/test"})

    assert settings.server.port == 7000
    assert settings.database.url == "postgresql+psycopg://x@127.0.0.1/test"


def test_settings_file_overrides_defaults(tmp_path):
    config = write_config(tmp_path, '[server]\nasync_mode = "gevent"\n[chat]\nflood_messages = 3\n')

    settings = load_settings(config, environ={})

    assert settings.server.async_mode == "gevent"
    assert settings.chat.flood_messages == 3


@pytest.mark.parametrize("text, named", [
    ("[server]\nprot = 5000\n", "server.prot"),
    ("[sever]\nport = 5000\n", "[sever]"),
    ("[server]\nport = \"five\"\n", "server.port"),
    ("[server]\ndebug = \"yes\"\n", "server.debug"),
    ("[languages]\navailable = \"sv\"\n", "languages.available"),
    ("[server]\nasync_mode = \"twisted\"\n", "server.async_mode"),
    ("[time]\ntime_zone = \"Europe/Nowhere\"\n", "time.time_zone"),
])
def test_settings_wrong_key_or_type_in_file_names_the_key(tmp_path, text, named):
    config = write_config(tmp_path, text)

    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={})

    assert named in str(error.value)


@pytest.mark.parametrize("environ, named", [
    ({"ARENA_SERVER__PORT": "abc"}, "server.port"),
    ({"ARENA_SERVER__NOPE": "1"}, "server.nope"),
    ({"ARENA_NOPE__PORT": "1"}, "[nope]"),
])
def test_settings_wrong_environment_variable_names_the_key(environ, named):
    with pytest.raises(ConfigError) as error:
        load_settings(None, environ=environ)

    assert named in str(error.value)


def test_settings_invalid_toml_is_reported(tmp_path):
    config = write_config(tmp_path, "[server\nport = 1")

    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, environ={})


def test_secret_key_generated_once_into_instance_folder(tmp_path):
    settings = load_settings(None, environ={"ARENA_SERVER__INSTANCE_PATH": str(tmp_path / "inst")})

    first = ensure_secret_key(settings)
    second = ensure_secret_key(settings)

    assert first == second
    assert len(first) >= 32
    key_file = tmp_path / "inst" / "secret_key"
    assert key_file.read_text() == first
    assert key_file.stat().st_mode & 0o077 == 0  # readable by the owner only


def test_secret_key_is_not_hard_coded():
    assert Settings().server.secret_key == ""
    assert 'secret_key = ""' in (PROJECT_ROOT / "config.toml").read_text()


def test_relative_sqlite_url_is_anchored_at_project_root():
    settings = load_settings(None, environ={"ARENA_DATABASE__URL": "sqlite:///instance/x.db"})

    assert settings.database_url == f"sqlite:///{PROJECT_ROOT}/instance/x.db"
