"""config.py - the settings of wattprof's configuration (docs/CONFIG.md) that
the Python layers use: where runs are stored, and what their energy means
in CO2 and money.  Read as the CLI reads them, first found wins:

  1. the arguments given in Python;
  2. the environment, WATTPROF_<KEY> (WATTPROF_DATABASE, WATTPROF_PUE ...);
  3. the local file ./.wattprof.ini, or the file `config=` names instead;
  4. the user's file $XDG_CONFIG_HOME/wattprof/config.ini
     (~/.config/wattprof/config.ini);
  5. the built-in default.

The files are the CLI's: keys this module does not use are left to the CLI,
which checks them.  Values are checked where they are used (the library
refuses a PUE below 1 ...), and every error names where the value came from.
"""
import configparser
import os
import pwd
from dataclasses import dataclass
from typing import Dict, Optional

__all__ = ["Setting", "load", "DEFAULT_DATABASE", "truth"]

DEFAULT_DATABASE = "wattprof_results/wattprof.db"  # the CLI's CLI_DEFAULT_DB
LOCAL_FILE = ".wattprof.ini"

# key -> (section, default)
KEYS = {
    "name": ("run", None),
    "package": ("run", None),
    "algorithm": ("run", None),
    "algorithm_params": ("run", None),
    "data_type": ("run", None),
    "data_shape": ("run", None),
    "comment": ("run", None),
    "frequency": ("monitor", "10"),
    "pue": ("report", "1.0"),
    "country": ("report", None),
    "emissions_factor": ("report", None),
    "price_factor": ("report", None),
    "price_unit": ("report", None),
    "database": ("storage", DEFAULT_DATABASE),
    "store": ("storage", "yes"),
}


@dataclass(frozen=True)
class Setting:
    value: Optional[str]
    origin: str  # "default", "WATTPROF_PUE", ".wattprof.ini:3", "argument"


def _user_file() -> Optional[str]:
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg.startswith("/"):  # a relative one is ignored (XDG spec), as the CLI does
        return os.path.join(xdg, "wattprof", "config.ini")
    home = os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir
    return os.path.join(home, ".config", "wattprof", "config.ini") if home else None


def _read(path: str, must: bool, out: Dict[str, Setting]) -> None:
    if not os.path.exists(path):
        if must:
            raise FileNotFoundError(f"cannot read the configuration file '{path}': no such file "
                                    "(check the path given as config=)")
        return
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot read the configuration file '{path}': it is a folder")
    # As inih reads them: ';' and '#' start a comment line, ' ;' an inline
    # comment; no interpolation; a key given twice keeps the last value.
    parser = configparser.ConfigParser(comment_prefixes=(";", "#"), inline_comment_prefixes=(";",),
                                       interpolation=None, strict=False)
    try:
        with open(path) as f:
            lines = f.readlines()
        parser.read_string("".join(lines), source=path)
    except (configparser.Error, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read the configuration file '{path}': {e}; write settings "
                         "as 'key = value' under a [section] (docs/CONFIG.md)") from e
    for key, (section, _) in KEYS.items():
        if parser.has_option(section, key):
            line = next((k + 1 for k, text in enumerate(lines)
                         if text.split("=", 1)[0].strip() == key), 0)
            out[key] = Setting(parser.get(section, key).strip(), f"{path}:{line}")


def load(config: Optional[str] = None, **given) -> Dict[str, Setting]:
    """Every key's effective value and where it came from.  `given` are the
    arguments of the caller (None: not given)."""
    out = {k: Setting(d, "default") for k, (_, d) in KEYS.items()}
    user = _user_file()
    if user:
        _read(user, False, out)
    _read(config or LOCAL_FILE, config is not None, out)
    for key in KEYS:
        env = "WATTPROF_" + key.upper()
        if env in os.environ:
            out[key] = Setting(os.environ[env], env)
    for key, value in given.items():
        if key not in KEYS:
            raise TypeError(f"no setting '{key}'")
        if value is not None:
            out[key] = Setting(str(value), "argument")
    return out


def truth(s: Setting, key: str) -> bool:
    """A yes/no value (yes/no, true/false, on/off, 1/0, any case)."""
    v = (s.value or "").strip().lower()
    if v in ("yes", "true", "on", "1"):
        return True
    if v in ("no", "false", "off", "0"):
        return False
    raise ValueError(f"'{key}' ({s.origin}) is '{s.value}', not a yes/no value")
