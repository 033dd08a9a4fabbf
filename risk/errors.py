"""Errors raised by :mod:`risk`: :class:`schemas.errors.CensusError` (a ValueError) with zh/en text."""

from __future__ import annotations

from schemas.errors import CensusError


class RiskError(CensusError):
    """A risk-assessment input that cannot be used, saying what to fix."""

    def __str__(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


class UnknownRiskHazard(RiskError, KeyError):
    """A hazard id that the risk registry does not know."""

    def __init__(self, given: object, valid: tuple[str, ...]):
        listed = ", ".join(valid)
        super().__init__(f"未知的风险评估灾种“{given}”；可用的有：{listed}",
                         f"unknown risk hazard '{given}'; valid ids: {listed}")
        self.given = given
        self.valid = valid


class RiskFileNotFound(RiskError, FileNotFoundError):
    """An input file or folder of the assessment that does not exist (the CLI exits 2)."""

    def __init__(self, message_zh: str, message_en: str, path: object):
        super().__init__(message_zh, message_en)
        self.filename = str(path)
