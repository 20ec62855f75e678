"""UI strings in English and Russian."""
from __future__ import annotations

MESSAGES = {
    "en": {
        "title": "Help Center",
        "describe": "Describe your problem",
        "describe_hint": "Start typing: we will show answers that may solve it right away.",
        "suggestions": "These may answer your question",
        "no_suggestions": "No ready answer yet. File a request below and we will reply.",
        "article": "Article",
        "solved_ticket": "Solved request",
        "file_ticket": "Still need help? Send us a request",
        "email": "Your email",
        "name": "Your name",
        "subject": "Subject",
        "details": "Details",
        "department": "Department",
        "priority": "Priority",
        "submit": "Send request",
        "filed": "Thank you! Your request {number} has been received.",
        "filed_next": "We will answer by email. Keep the number for reference.",
        "error": "Please correct the highlighted fields.",
        "back": "Back to the Help Center",
        "low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent",
        "api": "API documentation",
    },
    "ru": {
        "title": "Центр поддержки",
        "describe": "Опишите вашу проблему",
        "describe_hint": "Начните печатать — мы покажем ответы, которые могут сразу помочь.",
        "suggestions": "Возможно, это ответ на ваш вопрос",
        "no_suggestions": "Готового ответа пока нет. Отправьте обращение ниже — мы ответим.",
        "article": "Статья",
        "solved_ticket": "Решённое обращение",
        "file_ticket": "Нужна помощь? Отправьте нам обращение",
        "email": "Ваш email",
        "name": "Ваше имя",
        "subject": "Тема",
        "details": "Подробности",
        "department": "Отдел",
        "priority": "Приоритет",
        "submit": "Отправить обращение",
        "filed": "Спасибо! Ваше обращение {number} получено.",
        "filed_next": "Мы ответим по электронной почте. Сохраните номер обращения.",
        "error": "Пожалуйста, исправьте отмеченные поля.",
        "back": "Вернуться в центр поддержки",
        "low": "Низкий", "normal": "Обычный", "high": "Высокий", "urgent": "Срочный",
        "api": "Документация API",
    },
}


def translator(lang: str):
    catalog = MESSAGES.get(lang, MESSAGES["en"])
    return lambda key, **kw: catalog.get(key, MESSAGES["en"].get(key, key)).format(**kw)
