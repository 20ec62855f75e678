"""Russian and English through gettext catalogs (Flask-Babel).  The .po sources live in
translations/; they are compiled to .mo when the portal starts, so no build artefact is kept in
git and an edited catalog takes effect on restart."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import babel

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import request
from flask_babel import Babel

LANGUAGES = ("en", "ru")
SOURCE = Path(__file__).parent / "translations"


def compile_catalogs(source: Path = SOURCE) -> str:
    """Compile every translations/<lang>/LC_MESSAGES/*.po; return the directory of the .mo files.

    The directory is named after the catalogs' content and kept (under the stack's state
    directory, else the system temp directory): portal starts and replicas reuse it instead of
    leaving a fresh directory behind each time, and an edited catalog gets a new one."""
    sources = sorted(source.glob("*/LC_MESSAGES/*.po"))
    digest = hashlib.sha256(babel.__version__.encode())
    for po_path in sources:
        digest.update(str(po_path.relative_to(source)).encode() + b"\0" + po_path.read_bytes())
    base = Path(os.environ.get("HELPDESK_STATE_DIR") or tempfile.gettempdir())
    target = base / f"helpdesk-portal-i18n-{digest.hexdigest()[:16]}"
    if target.is_dir():
        return str(target)
    base.mkdir(parents=True, exist_ok=True)
    # Compiled aside and renamed into place, so concurrent starts never read a half-written one.
    scratch = Path(tempfile.mkdtemp(prefix=".helpdesk-portal-i18n-", dir=base))
    try:
        for po_path in sources:
            with po_path.open("rb") as po:
                catalog = read_po(po, locale=po_path.parts[-3])
            mo_path = scratch / po_path.relative_to(source).with_suffix(".mo")
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            with mo_path.open("wb") as mo:
                write_mo(mo, catalog)
        try:
            scratch.rename(target)
        except OSError:  # another process got there first: its copy is identical
            pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return str(target)


def choose_language(signed_in_language: str | None = None) -> str:
    """An explicit switch (?lang=), then the remembered choice, then the account, then the
    browser's preference."""
    for candidate in (request.args.get("lang"), request.cookies.get("lang"), signed_in_language):
        if candidate in LANGUAGES:
            return candidate
    return request.accept_languages.best_match(LANGUAGES) or "en"


def install(app, user_language) -> Babel:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = compile_catalogs()
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    return Babel(app, locale_selector=lambda: choose_language(user_language()))
