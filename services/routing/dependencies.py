from services.common.nameko_support import ServiceDatabase

from .repository import RoutingRepository


class RoutingStore(ServiceDatabase):
    repository = RoutingRepository
