"""Files sent through the portal, by the API or by a page.  Intake owns the rules (size, type,
sanitised name) and answers with field messages; a page turns them into one sentence in the
reader's language per refused file, so nobody sees a traceback or a field name."""
from __future__ import annotations

import base64
from urllib.parse import quote

from flask import Response
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from services.intake.schemas import (ALLOWED_TYPES, MAX_ATTACHMENT_BYTES,
                                     MAX_ATTACHMENTS_PER_TICKET)

MEGABYTE = 1024 * 1024
# Files one page form may carry at once; the portal's body limit for multipart requests is
# sized from it (see service.PortalRequest), so each file can reach intake's own size check.
MAX_FILES_PER_FORM = 3


def upload_payload(upload: FileStorage, public: bool = True) -> dict:
    """What intake's add_attachment takes: the file as base64 with its declared name and type."""
    return {"filename": upload.filename or "attachment",
            "content_type": upload.mimetype or "application/octet-stream",
            "data": base64.b64encode(upload.read()).decode("ascii"), "public": public}


def download_response(result: dict) -> Response:
    """intake's get_attachment answer as a download, never rendered inline by the browser."""
    meta = result["attachment"]
    return Response(base64.b64decode(result["data"]), mimetype=meta["content_type"],
                    headers={"Content-Disposition": disposition(meta["filename"])})


def disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback plus the UTF-8 name (already sanitised by intake)."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def upload_hint() -> str:
    return _("Up to %(megabytes)d MB per file; %(types)s.",
             megabytes=MAX_ATTACHMENT_BYTES // MEGABYTE, types=", ".join(sorted(ALLOWED_TYPES)))


def refusal_reason(errors: dict, empty: bool) -> str:
    """intake's field messages for one refused file, as one sentence for a person."""
    if "filename" in errors:
        return _("Files of this type are not accepted. Allowed: %(types)s.",
                 types=", ".join(sorted(ALLOWED_TYPES)))
    if "content_type" in errors:
        return _("The file's contents do not match its name.")
    if "data" in errors:
        return _("The file is empty.") if empty else _(
            "The file is too big: at most %(megabytes)d MB.",
            megabytes=MAX_ATTACHMENT_BYTES // MEGABYTE)
    if "_schema" in errors:
        return _("This request already has as many files as it can take (%(count)d).",
                 count=MAX_ATTACHMENTS_PER_TICKET)
    return _("The file could not be attached.")


def attach_files(portal, number: int, files: list[FileStorage], actor: dict
                 ) -> tuple[list[dict], list[tuple[str, str]], int]:
    """Attach each file to ticket ``number`` as ``actor``.  Returns the stored attachments, the
    refused files as (name, reason) and the worst status (200 when none was refused).  A
    refusal stores nothing for that file; the others are kept."""
    stored, refused, status = [], [], 200
    for index, upload in enumerate(f for f in files if f.filename):
        name = upload.filename
        if index >= MAX_FILES_PER_FORM:
            refused.append((name, _("At most %(count)d files at once.",
                                    count=MAX_FILES_PER_FORM)))
            status = max(status, 400)
            continue
        payload = upload_payload(upload)
        result = portal.rpc.call("intake", "add_attachment", number, payload, actor)
        if result["ok"]:
            stored.append(result["attachment"])
        elif result["status"] == 404:
            return stored, refused, 404
        else:
            refused.append((name, refusal_reason(result["errors"], empty=not payload["data"])))
            status = max(status, result["status"])
    return stored, refused, status
