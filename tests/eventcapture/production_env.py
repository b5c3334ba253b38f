"""The production environment docs/configuration.md documents, as the tests of production settings use it."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Variables a checkout's .env may set that would change what these tests see: a process started
# with only the documented environment gets them empty (an empty value is an unset one).
CHECKOUT_ENV_OVERRIDES = {
    name: ""
    for name in (
        "SECRET_KEY",
        "SECRET_KEY_FALLBACKS",
        "ALLOWED_HOSTS",
        "LOADTESTING_ACTIVE",
        "TRUSTED_PROXIES",
        "SECURE_PROXY_SSL_HEADER",
        "CORS_ALLOWED_ORIGIN_REGEXES",
    )
}


def documented_production_environment() -> dict[str, str]:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    block = re.search(
        r"<!-- production environment: start -->\n```sh\n(.*?)```\n<!-- production environment: end -->", text, re.S
    )
    assert block is not None, "the production environment block of docs/configuration.md is missing"
    pairs = [line.split("=", 1) for line in block.group(1).splitlines() if line and not line.startswith("#")]
    return {name: value for name, value in pairs}


def production_environment(tmp_path: Path) -> dict[str, str]:
    """The documented environment, its SECRET_KEY_FILE a file holding a strong key, and nothing
    else from the checkout's .env that matters here."""
    key_file = tmp_path / "secret_key"
    key_file.write_text(secrets.token_urlsafe(50) + "\n")
    env = {**CHECKOUT_ENV_OVERRIDES, **documented_production_environment()}
    env["SECRET_KEY_FILE"] = str(key_file)
    return env
