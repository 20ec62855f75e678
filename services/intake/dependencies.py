from services.common.nameko_support import ServiceDatabase

from .repository import TicketRepository


class TicketStore(ServiceDatabase):
    repository = TicketRepository
