"""The generic SOAP adapter (zeep on the provider's WSDL)."""

from adapters.soap.adapter import SoapAdapter
from adapters.soap.settings import SoapSettings, WsSecurity

__all__ = ["SoapAdapter", "SoapSettings", "WsSecurity"]
