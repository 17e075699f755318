"""Settings: defaults <- config.toml <- ARENA_<SECTION>__<KEY>; a wrong key stops start-up."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import PROJECT_ROOT, ConfigError, Settings, ensure_secret_key, load_settings


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


# -- ARENA_CONFIG -------------------------------------------------------------------------

def test_arena_config_names_the_file_that_is_read(tmp_path):
    config = write_config(tmp_path, '[server]\nport = 5001\n[logging]\nformat = "json"\n')

    settings = load_settings(environ={"ARENA_CONFIG": str(config)})

    assert settings.server.port == 5001
    assert settings.logging.format == "json"


def test_arena_config_file_is_overridden_by_the_environment(tmp_path):
    config = write_config(tmp_path, "[server]\nport = 5001\n")

    settings = load_settings(environ={"ARENA_CONFIG": str(config), "ARENA_SERVER__PORT": "5002"})

    assert settings.server.port == 5002


def test_arena_config_naming_a_missing_file_stops_start_up(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"ARENA_CONFIG": str(tmp_path / "nowhere.toml")})

    assert "ARENA_CONFIG" in str(error.value) and "nowhere.toml" in str(error.value)


def test_without_arena_config_the_projects_config_toml_is_read():
    settings = load_settings(environ={})

    assert settings == load_settings(PROJECT_ROOT / "config.toml", environ={})


def test_check_config_reads_arena_config_and_shows_no_secret(tmp_path):
    config = write_config(tmp_path, '[server]\nport = 5003\n[metrics]\ntoken = "skrapnyckel-123"\n'
                                    '[mail]\nhost = "smtp.kommun.example"\nfrom_address = "arena@kommun.example"\n'
                                    'password = "smtp-lösen-456"\n'
                                    '[database]\nurl = "postgresql+psycopg://arena:db-lösen-789@127.0.0.1/arena"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env["ARENA_CONFIG"] = str(config)

    result = subprocess.run([sys.executable, "-m", "server", "check-config"], cwd=PROJECT_ROOT, env=env, check=False,
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["server"]["port"] == 5003
    assert values["metrics"]["token"] == "(set)" and values["mail"]["password"] == "(set)"
    for secret in ("skrapnyckel-123", "smtp-lösen-456", "db-lösen-789"):
        assert secret not in result.stdout + result.stderr


# -- the shipped config.toml documents every key ------------------------------------------

def _shipped_keys() -> dict[str, dict[str, tuple[int, str]]]:
    """{section: {key: (line number, the key's comment)}} of the shipped config.toml; a key's
    comment is the block of comment lines right above it, or its own trailing comment."""
    sections: dict[str, dict[str, tuple[int, str]]] = {}
    section, comment = None, []
    for number, line in enumerate((PROJECT_ROOT / "config.toml").read_text().splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            section, comment = stripped.strip("[]"), []
            sections[section] = {}
        elif stripped.startswith("#"):
            comment.append(stripped.lstrip("# "))
        elif "=" in stripped and section is not None:
            key, _, rest = stripped.partition("=")
            trailing = rest.split("#", 1)[1] if "#" in rest and not rest.strip().startswith('"') else ""
            sections[section][key.strip()] = (number, " ".join(comment) or trailing.strip())
            comment = []
        elif not stripped:
            comment = []
    return sections


def test_shipped_config_lists_every_key_of_every_section():
    shipped = _shipped_keys()

    for section in dataclasses.fields(Settings):
        keys = [f.name for f in dataclasses.fields(getattr(Settings(), section.name))]
        assert section.name in shipped, f"[{section.name}] is missing from config.toml"
        missing = [key for key in keys if key not in shipped[section.name]]
        assert not missing, f"config.toml lacks [{section.name}] {', '.join(missing)}"


def test_shipped_config_gives_every_key_a_comment():
    undocumented = [f"[{section}] {key} (line {number})" for section, keys in _shipped_keys().items()
                    for key, (number, comment) in keys.items() if not comment]

    assert not undocumented, f"keys without a comment in config.toml: {', '.join(undocumented)}"


def test_shipped_config_values_are_the_defaults():
    # The file documents the defaults: a value changed here but not in server/config.py (or the
    # other way round) would tell operators something untrue.
    assert load_settings(PROJECT_ROOT / "config.toml", environ={}) == load_settings(None, environ={})


@pytest.mark.parametrize("host", ["smtp.kommun.se", "10.0.0.5", "127.0.0.1.example.org"])
def test_settings_mail_without_encryption_to_another_machine_names_the_key(tmp_path, host):
    config = write_config(tmp_path, f'[mail]\nhost = "{host}"\nsecurity = "none"\nuser = "arena"\n'
                                    f'from_address = "arena@kommun.se"\n')

    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={"ARENA_MAIL__PASSWORD": "secret"})

    assert "mail.security" in str(error.value) and "mail.host" in str(error.value)
    assert "secret" not in str(error.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "LOCALHOST"])
def test_settings_mail_without_encryption_to_this_machine_loads(tmp_path, host):
    config = write_config(tmp_path, f'[mail]\nhost = "{host}"\nsecurity = "none"\n'
                                    f'from_address = "arena@kommun.se"\n')

    settings = load_settings(config, environ={})

    assert settings.mail.security == "none"
