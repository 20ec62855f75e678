from services.common.nameko_support import ServiceDatabase

from .repository import SlaRepository


class SlaStore(ServiceDatabase):
    repository = SlaRepository
