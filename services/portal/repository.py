"""Portal's persistence: users and API tokens."""
from __future__ import annotations

import uuid
from datetime import timedelta

from pymongo.errors import DuplicateKeyError

from services.common.storage import Repository

TOKEN_LIFETIME = timedelta(days=30)


class UserRepository(Repository):
    def ensure_indexes(self) -> None:
        self.db.users.create_index("email", unique=True)
        self.db.tokens.create_index("expires_at", expireAfterSeconds=0)

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

    def set_password(self, user_id: str, password_hash: str) -> None:
        self.db.users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})

    def save_token(self, digest: str, user_id: str, now) -> None:
        self.db.tokens.insert_one({"_id": digest, "user_id": user_id,
                                   "expires_at": now + TOKEN_LIFETIME})

    def user_for_token(self, digest: str, now) -> dict | None:
        token = self.db.tokens.find_one({"_id": digest, "expires_at": {"$gt": now}})
        return self.by_id(token["user_id"]) if token else None

    def delete_token(self, digest: str) -> None:
        self.db.tokens.delete_one({"_id": digest})
