"""The generic SOAP adapter (zeep on the provider's WSDL)."""

from lgsp_adapters.soap.adapter import SoapAdapter
from lgsp_adapters.soap.settings import SoapSettings, WsSecurity

__all__ = ["SoapAdapter", "SoapSettings", "WsSecurity"]
