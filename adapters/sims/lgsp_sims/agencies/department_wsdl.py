"""The processing department's WSDL (WSDL 1.1, SOAP 1.1, document/literal wrapped).

Two operations:

``NhanHoSo`` (receive a dossier)
    The dossier's fields are the operation's parameters, so the generic SOAP adapter maps a
    ``dossier`` payload's top-level keys onto them; MessageId (required: the department
    deduplicates on it), MessageType, Sender and CorrelationId come from the envelope (the
    adapter's ``envelope_params`` setting).
``NhanThongDiep`` (receive any message)
    MessageId, MessageType, Sender, CorrelationId and Payload, the message body as JSON text.

Both answer KetQua ("0" received), ThongBao (a message) and MaTiepNhan (the receipt number, the
same for a repeated MessageId). The WSDL is generated from the field lists below so the server's
parser and the published contract cannot drift apart.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

TNS = "urn:h56:so-nong-nghiep-moi-truong:xu-ly-ho-so:v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

ENVELOPE_FIELDS = ("MessageId", "MessageType", "Sender", "CorrelationId")
# Dossier fields (DOMAIN.md), all strings on the wire; the first three are required.
DOSSIER_REQUIRED = ("MaHoSo", "MaTTHC", "TrangThaiHoSo")
DOSSIER_SCALARS = (
    "MaHoSo", "MaTTHC", "TenTTHC", "MaLinhVuc", "TenLinhVuc", "KenhThucHien", "SoBienNhan",
    "ChuHoSo", "SoGiayToChuHoSo", "LoaiDoiTuong", "MaDoiTuong", "ThongTinKhac", "Email", "Fax",
    "SoDienThoai", "TrichYeuHoSo", "NgayNopHoSo", "NgayTiepNhan", "NgayHenTra", "TrangThaiHoSo",
    "NgayTra", "ThongTinTra", "HinhThuc", "NgayKetThucXuLy", "NgayTuChoi", "DonViXuLy", "GhiChu",
    "NoiNopHoSo", "DuocThanhToanTrucTuyen",
)  # fmt: skip
DOSSIER_DATES = tuple(f for f in DOSSIER_SCALARS if f.startswith("Ngay"))
# Repeated parts of a dossier: element name -> (complex type name, its fields).
DOSSIER_ARRAYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "DinhDanhCHS": ("DinhDanh", ("LoaiDinhDanh", "SoDinhDanh")),
    "TaiLieuNop": (
        "TaiLieu",
        (
            "TepDinhKemId",
            "TenTepDinhKem",
            "IsDeleted",
            "MaThanhPhanHoSo",
            "DuongDanTaiTepTin",
            "DuocSoHoa",
            "DuocTaiSuDung",
            "DuocLayTuKhoDMQG",
            "MaKetQuaThayThe",
        ),
    ),
    "DanhSachLePhi": ("LePhi", ("TenPhiLePhi", "MaPhiLePhi", "HinhThucThu", "Gia", "LoaiPhiLePhi")),
    "DanhSachTepDinhKemKhac": ("TepDinhKemKhac", ("TenGiayTo", "SoLuong", "LoaiGiayTo")),
    "DanhSachHoSoBoSung": (
        "HoSoBoSung",
        (
            "HoSoBoSungId",
            "NguoiYeuCauBoSung",
            "NoiDungBoSung",
            "NgayBoSung",
            "NguoiTiepNhanBoSung",
            "ThongTinTiepNhan",
            "NgayTiepNhanBoSung",
            "TrangThaiBoSung",
            "NgayHenTraTruoc",
            "NgayHenTraMoi",
        ),
    ),
    "DanhSachGiayToKetQua": (
        "GiayToKetQua",
        ("TenGiayTo", "MaThanhPhanHoSo", "GiayToId", "DuongDanTepTinKetQua", "MaGiayToKetQua"),
    ),
}
OPERATIONS = ("NhanHoSo", "NhanThongDiep")
MESSAGE_REQUIRED = ("MessageId", "MessageType", "Sender", "Payload")


def _element(name: str, type_: str = "xs:string", optional: bool = True, many: bool = False) -> str:
    occurs = ' minOccurs="0"' if optional else ""
    occurs += ' maxOccurs="unbounded"' if many else ""
    return f'<xs:element name="{name}" type="{type_}"{occurs}/>'


def _types() -> str:
    complex_types = "\n".join(
        f'<xs:complexType name="{type_name}"><xs:sequence>'
        + "".join(_element(f) for f in fields)
        + "</xs:sequence></xs:complexType>"
        for type_name, fields in DOSSIER_ARRAYS.values()
    )
    dossier = "".join(
        [_element(f, optional=f != "MessageId") for f in ENVELOPE_FIELDS]
        + [_element(f, optional=f not in DOSSIER_REQUIRED) for f in DOSSIER_SCALARS]
        + [_element(n, f"tns:{t}", many=True) for n, (t, _) in DOSSIER_ARRAYS.items()]
    )
    message = "".join(
        _element(f, optional=f not in MESSAGE_REQUIRED) for f in (*ENVELOPE_FIELDS, "Payload")
    )
    answer = "".join(_element(f, optional=False) for f in ("KetQua", "ThongBao", "MaTiepNhan"))
    return f"""{complex_types}
<xs:element name="NhanHoSo"><xs:complexType><xs:sequence>{dossier}</xs:sequence></xs:complexType></xs:element>
<xs:element name="NhanThongDiep"><xs:complexType><xs:sequence>{message}</xs:sequence></xs:complexType></xs:element>
<xs:element name="NhanHoSoResponse"><xs:complexType><xs:sequence>{answer}</xs:sequence></xs:complexType></xs:element>
<xs:element name="NhanThongDiepResponse"><xs:complexType><xs:sequence>{answer}</xs:sequence></xs:complexType></xs:element>"""  # noqa: E501


def wsdl(address: str) -> str:
    """The WSDL, with the service published at ``address``."""
    messages = "".join(
        f'<wsdl:message name="{op}{suffix}">'
        f'<wsdl:part name="parameters" element="tns:{op}{suffix}"/></wsdl:message>'
        for op in OPERATIONS
        for suffix in ("", "Response")
    )
    port_ops = "".join(
        f'<wsdl:operation name="{op}"><wsdl:input message="tns:{op}"/>'
        f'<wsdl:output message="tns:{op}Response"/></wsdl:operation>'
        for op in OPERATIONS
    )
    binding_ops = "".join(
        f'<wsdl:operation name="{op}"><soap:operation soapAction="{TNS}#{op}" style="document"/>'
        '<wsdl:input><soap:body use="literal"/></wsdl:input>'
        '<wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>'
        for op in OPERATIONS
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="XuLyHoSo" targetNamespace="{TNS}" xmlns:tns="{TNS}"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema">
<wsdl:documentation>Sở Nông nghiệp và Môi trường tỉnh H56: tiếp nhận hồ sơ và thông điệp từ LGSP.</wsdl:documentation>
<wsdl:types><xs:schema targetNamespace="{TNS}" elementFormDefault="qualified">
{_types()}
</xs:schema></wsdl:types>
{messages}
<wsdl:portType name="XuLyHoSoPortType">{port_ops}</wsdl:portType>
<wsdl:binding name="XuLyHoSoBinding" type="tns:XuLyHoSoPortType">
<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>{binding_ops}
</wsdl:binding>
<wsdl:service name="XuLyHoSoService"><wsdl:port name="XuLyHoSoPort" binding="tns:XuLyHoSoBinding">
<soap:address location={quoteattr(address)}/></wsdl:port></wsdl:service>
</wsdl:definitions>
"""  # noqa: E501
