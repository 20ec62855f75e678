"""Attachment rules with no I/O: what may be stored, under which name."""
from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS_PER_TICKET = 50
# By extension, and the declared type must agree: no HTML/SVG/scripts/executables, which a
# browser or a colleague's desktop might run.
ALLOWED_TYPES = {
    ".png": {"image/png"}, ".jpg": {"image/jpeg"}, ".jpeg": {"image/jpeg"},
    ".gif": {"image/gif"}, ".webp": {"image/webp"}, ".pdf": {"application/pdf"},
    ".txt": {"text/plain"}, ".log": {"text/plain"}, ".csv": {"text/csv", "text/plain"},
    ".zip": {"application/zip", "application/x-zip-compressed"},
    ".docx": {"application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    ".xlsx": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    ".eml": {"message/rfc822"},
}
_UNSAFE = re.compile(r"[^\w.\- ()+]")


def sanitize_filename(raw: str) -> str:
    """A name that is safe in a Content-Disposition header and on any disk: no directories,
    no control or shell characters, no leading dot, at most 100 characters."""
    name = unicodedata.normalize("NFKC", raw or "").replace("\\", "/")
    name = PurePosixPath(name).name
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE.sub("_", name).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if dot and len(ext) <= 10:
        name = stem[:100 - len(ext) - 1] + "." + ext
    return name[:100] or "attachment"


def attachment_errors(filename: str, content_type: str, size: int) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    ext = PurePosixPath(filename.lower()).suffix
    if ext not in ALLOWED_TYPES:
        errors["filename"] = [f"files of type '{ext or 'none'}' are not accepted; allowed: "
                              + ", ".join(sorted(ALLOWED_TYPES))]
    elif content_type.lower() not in ALLOWED_TYPES[ext]:
        errors["content_type"] = [f"{content_type} does not match a {ext} file"]
    if size > MAX_ATTACHMENT_BYTES:
        errors["data"] = [f"at most {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB per file"]
    if size == 0:
        errors["data"] = ["the file is empty"]
    return errors


def visible_attachments(ticket: dict, staff: bool) -> list[dict]:
    """Attachments of internal notes stay with staff."""
    return [a for a in ticket.get("attachments", []) if staff or a["public"]]
