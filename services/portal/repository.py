"""Portal's persistence: users, API tokens and browser sessions, its signing secret, and the
"this solved it" feedback customers leave on suggestions."""
from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.common.storage import Repository

TOKEN_LIFETIME = timedelta(days=30)
SESSION_LIFETIME = timedelta(days=14)
# Agents read and write only tickets of their own departments (supervisors and admins: all).
ACCESS_DEFAULTS = {"department_scoped_agents": True}
# First filings from one address at once: each asks for the record until one has made it.
REQUESTER_ATTEMPTS = 5


class UserRepository(Repository):
    def ensure_indexes(self) -> None:
        self.db.users.create_index("email", unique=True)
        self.db.tokens.create_index("expires_at", expireAfterSeconds=0)
        self.db.feedback.create_index([("kind", 1), ("target_id", 1)])
        self.db.viewing.create_index("expires_at", expireAfterSeconds=0)
        self.db.viewing.create_index("number")
        self.db.signups.create_index("expires_at", expireAfterSeconds=0)

    def by_email(self, email: str) -> dict | None:
        return self.db.users.find_one({"email": email.strip().lower()})

    def by_id(self, user_id: str) -> dict | None:
        return self.db.users.find_one({"_id": user_id})

    def create(self, *, email: str, name: str, role: str, password_hash: str | None,
               language: str = "en", user_id: str | None = None) -> dict | None:
        """None if the email is taken."""
        user = {"_id": user_id or uuid.uuid4().hex, "email": email.strip().lower(), "name": name,
                "role": role, "password_hash": password_hash, "language": language}
        try:
            self.db.users.insert_one(user)
        except DuplicateKeyError:
            return None
        return user

    def requester(self, *, email: str, name: str, language: str) -> dict:
        """The account of an address filing without signing in: the one it has, or a new
        customer record without a password.  One command either way.  Of two first filings
        at once the unique email index lets one insert; the other asks again and finds that
        record (on the wire server it may briefly find nothing at all: asked again too)."""
        email = email.strip().lower()
        for _ in range(REQUESTER_ATTEMPTS):
            try:
                found = self.db.users.find_one_and_update({"email": email}, {"$setOnInsert": {
                    "_id": uuid.uuid4().hex, "name": name, "role": "customer",
                    "password_hash": None, "language": language}}, upsert=True,
                    return_document=ReturnDocument.AFTER)
            except DuplicateKeyError:
                found = None
            if found is not None:
                return found
        raise RuntimeError(f"no account could be found or made for {email}")

    def claim(self, *, email: str, name: str, password_hash: str,
              language: str) -> dict | None:
        """The account of an address that filed requests before without one (no password yet),
        now given a password; None if there is no such record."""
        return self.db.users.find_one_and_update(
            {"email": email.strip().lower(), "password_hash": None},
            {"$set": {"name": name, "password_hash": password_hash, "language": language}},
            return_document=ReturnDocument.AFTER)

    # A sign-up waiting for its emailed link: only the digest of the link's token is kept.
    def save_signup(self, digest: str, fields: dict, expires_at) -> None:
        self.db.signups.insert_one({"_id": digest, **fields, "expires_at": expires_at})

    def take_signup(self, digest: str, now) -> dict | None:
        """The waiting sign-up of this link, removed (a link works once); None if unknown or
        expired."""
        return self.db.signups.find_one_and_delete({"_id": digest, "expires_at": {"$gt": now}})

    def set_password(self, user_id: str, password_hash: str) -> None:
        self.db.users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})
        # A new password ends every session and token issued under the old one.
        self.db.tokens.delete_many({"user_id": user_id})

    def set_role(self, user_id: str, role: str) -> dict | None:
        return self.db.users.find_one_and_update({"_id": user_id}, {"$set": {"role": role}},
                                                 return_document=ReturnDocument.AFTER)

    def set_customer_account(self, user_id: str, organization: str | None,
                             plan: str | None) -> dict | None:
        """None when there is no such customer (staff have no organization or plan)."""
        return self.db.users.find_one_and_update(
            {"_id": user_id, "role": "customer"},
            {"$set": {"organization": organization, "plan": plan}},
            return_document=ReturnDocument.AFTER)

    def page(self, role: str | None, page: int, per_page: int) -> tuple[list[dict], int]:
        query = {"role": role} if role else {}
        found = list(self.db.users.find(query).sort("email", 1)
                     .skip((page - 1) * per_page).limit(per_page))
        return found, self.db.users.count_documents(query)

    # Bearer tokens (programs) and browser sessions (people) are the same kind of record:
    # a random secret of which only the digest is kept, with an expiry the TTL index enforces.
    def save_token(self, digest: str, user_id: str, now, kind: str = "api") -> None:
        lifetime = SESSION_LIFETIME if kind == "session" else TOKEN_LIFETIME
        self.db.tokens.insert_one({"_id": digest, "user_id": user_id, "kind": kind,
                                   "expires_at": now + lifetime})

    def user_for_token(self, digest: str, now, kind: str = "api") -> dict | None:
        # A session cookie is never accepted as a bearer token, nor the reverse; tokens saved
        # before kinds existed were all API tokens.
        of_kind = {"kind": "session"} if kind == "session" else {"kind": {"$ne": "session"}}
        token = self.db.tokens.find_one({"_id": digest, **of_kind, "expires_at": {"$gt": now}})
        return self.by_id(token["user_id"]) if token else None

    def delete_token(self, digest: str) -> None:
        self.db.tokens.delete_one({"_id": digest})

    def secret_key(self) -> str:
        """One signing secret shared by every portal replica, made on first use."""
        doc = self.db.settings.find_one_and_update(
            {"_id": "secret_key"}, {"$setOnInsert": {"value": secrets.token_urlsafe(48)}},
            upsert=True, return_document=ReturnDocument.AFTER)
        return doc["value"] if doc else self.db.settings.find_one({"_id": "secret_key"})["value"]

    def access_settings(self) -> dict:
        """Desk-wide access settings an admin may change (defaults until saved)."""
        saved = self.db.settings.find_one({"_id": "access"}) or {}
        return {name: saved.get(name, default) for name, default in ACCESS_DEFAULTS.items()}

    def save_access_settings(self, settings: dict) -> dict:
        self.db.settings.update_one({"_id": "access"}, {"$set": settings}, upsert=True)
        return self.access_settings()

    # Who has a ticket open in the agent console right now: a heartbeat record per person and
    # ticket that lapses quickly (the TTL index removes it; reads also ignore lapsed ones).
    def note_viewing(self, number: int, user: dict, mode: str, now, lifetime) -> None:
        self.db.viewing.update_one({"_id": f"{number}:{user['_id']}"}, {"$set": {
            "number": number, "user_id": user["_id"], "name": user["name"], "mode": mode,
            "expires_at": now + lifetime}}, upsert=True)

    def viewers(self, number: int, now) -> list[dict]:
        return list(self.db.viewing.find({"number": number, "expires_at": {"$gt": now}}))
