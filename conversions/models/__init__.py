"""The conversions app's models, one module per concept: code that needs one model imports only its module."""

# ruff: noqa: F401 - every import here is a re-export, for Django and for `from conversions.models import ...`.

from conversions.models.claims import MissingConversionClaim
from conversions.models.conversion import Conversion, StatusChange
from conversions.models.datacenter import DatacenterRange
from conversions.models.fraud import FraudSetting, SuspiciousConversion
from conversions.models.intake import IdempotencyKey, RequestLogEntry, UsedSignature
from conversions.models.postbacks import PartnerPostback, PostbackDelivery, PostbackDispatch
from conversions.models.stats import (
    ConversionDayStat,
    ConversionStat,
    ConversionSub1DayStat,
    ConversionSub1Stat,
    PartnerConversionStat,
    PartnerConversionSub1DayStat,
)
from conversions.models.uploads import ConversionUpload, UploadRowError
