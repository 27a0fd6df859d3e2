"""One declaration per serving option: a `ServingConfig` field carrying `option(...)` metadata.

Each option of `broker-plugin run` is declared once, as a field of `ServingConfig`::

    batch_size: int = field(default=DEFAULT_BATCH_SIZE, metadata=option("Messages per batch."))

The field gives the name, the type (its annotation) and the default; `option` adds the help
text and, where the command line differs from the field, its flags, its parameter name, its
type, its default or how its value becomes the field's. The environment variable is always
`BROKER_PLUGIN_<NAME>` (`env_name`), NAME being the command-line name. `declared_options`
reads these declarations back as `Option`s: `broker-plugin run`'s parameters are generated
from them (`broker_plugin.cli_support.with_options`), `ServingConfig.from_options` turns the
parsed values into the config, and the chart's tests check its values against them.

This module imports nothing from the project, so anything (health, the CLI) may use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

ENV_PREFIX = "BROKER_PLUGIN_"
#: The key of `option(...)`'s entry in a dataclass field's metadata.
OPTION_KEY = "broker_plugin.option"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: "Same as the field" (for `option`'s cli_default).
UNSET: Any = _Unset()


def env_name(name: str) -> str:
    """The environment variable of option `name`: `BROKER_PLUGIN_<NAME>`."""
    return f"{ENV_PREFIX}{name.upper()}"


@dataclass(frozen=True)
class OptionSpec:
    """What a field's metadata adds to its name, type and default (see `option`)."""

    help: str
    flags: tuple[str, ...] = ()
    cli_name: str | None = None
    cli_type: Any = None
    cli_default: Any = UNSET
    convert: Callable[[Any], Any] | None = None


def option(
    help: str,
    *,
    flags: tuple[str, ...] = (),
    cli_name: str | None = None,
    cli_type: Any = None,
    cli_default: Any = UNSET,
    convert: Callable[[Any], Any] | None = None,
) -> dict[str, OptionSpec]:
    """Field metadata that makes a dataclass field a command-line option.

    help: the `--help` line. flags: click declarations (e.g. `("--kafka-setting", "-X")`,
    `("--metrics/--no-metrics",)`); default: typer's, from the name. cli_name: the parameter
    (and the env var's NAME) when it differs from the field (`model` fills `model_dir`).
    cli_type / cli_default: the command line's when they differ from the field's (the
    default is the field's otherwise). convert: the command-line value → the field's value.
    """
    spec = OptionSpec(help, flags, cli_name, cli_type, cli_default, convert)
    return {OPTION_KEY: spec}


@dataclass(frozen=True)
class Option:
    """One declared option as the command line sees it."""

    name: str  # the command's parameter; NAME of the env var
    field: str  # the config field it fills
    type: Any
    default: Any  # Ellipsis: required
    help: str
    flags: tuple[str, ...]
    convert: Callable[[Any], Any] | None = None

    @property
    def envvar(self) -> str:
        return env_name(self.name)

    @property
    def required(self) -> bool:
        return self.default is ...

    @property
    def flag(self) -> str:
        """The long flag users type (`--batch-size`; `--metrics` for `--metrics/--no-metrics`)."""
        for declaration in self.flags:
            if declaration.startswith("--"):
                return declaration.split("/")[0]
        return "--" + self.name.replace("_", "-")

    def to_field(self, value: Any) -> Any:
        """A command-line value → the config field's value."""
        return value if self.convert is None else self.convert(value)


def declared_options(settings_class: type) -> list[Option]:
    """The options declared on a dataclass's fields (`option` metadata), in field order."""
    hints = get_type_hints(settings_class)
    options = []
    for f in dataclasses.fields(settings_class):
        spec = f.metadata.get(OPTION_KEY)
        if spec is None:
            continue
        if spec.cli_default is not UNSET:
            default = spec.cli_default
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = ...
        options.append(
            Option(
                name=spec.cli_name or f.name,
                field=f.name,
                type=hints[f.name] if spec.cli_type is None else spec.cli_type,
                default=default,
                help=spec.help,
                flags=spec.flags,
                convert=spec.convert,
            )
        )
    return options


def field_values(options: list[Option], values: Mapping[str, Any]) -> dict[str, Any]:
    """Parsed command-line values (by option name) → keyword arguments of the config."""
    return {o.field: o.to_field(values[o.name]) for o in options if o.name in values}
