"""The finer rules of masking (lgsp/messagelog/masking.py): field names compared without case,
``_`` or ``-``; code fields left readable; where a person's ``Ten`` is a name and where it is
not; embedded JSON and XML found in free text; the shortest number that is masked."""

from __future__ import annotations

import pytest

from lgsp.messagelog.masking import mask_free_text, mask_payload

CCCD = "079203001234"
MASKED_CCCD = "*********234"
NAME = "Nguyễn Văn An"
MASKED_NAME = "N*** V*** A***"


@pytest.mark.parametrize(
    "key", ["SoDienThoai", "so_dien_thoai", "So-Dien-Thoai", "SODIENTHOAI", "so-dien_thoai"]
)
def test_field_names_are_compared_without_case_underscores_or_hyphens(key: str) -> None:
    assert mask_payload({key: "0912 345 678"}) == {key: "**** *** 678"}


@pytest.mark.parametrize(
    "key",
    [
        "MaHoSo",
        "MaTTHC",
        "TepDinhKemId",
        "HoSoID",
        "id",
        "SoTien",
        "Gia",
        "amount",
        "CODAmount",
        "NgayNop",
    ],
)
def test_code_fields_keep_numbers_that_look_personal(key: str) -> None:
    """References, amounts and dates: a 12-digit reference or a 10-digit amount stays readable."""
    for value in (CCCD, "0912345678"):
        assert mask_payload({key: value}) == {key: value}


@pytest.mark.parametrize("key", ["Mathang", "Manh", "GhiChu", "NoiDung"])
def test_other_free_text_fields_mask_the_numbers_in_them(key: str) -> None:
    assert mask_payload({key: f"CCCD {CCCD}"}) == {key: f"CCCD {MASKED_CCCD}"}


def test_a_number_of_four_digits_or_more_is_masked_shorter_ones_kept() -> None:
    assert mask_payload({"SoDienThoai": "1234"}) == {"SoDienThoai": "*234"}
    assert mask_payload({"SoDienThoai": "123"}) == {"SoDienThoai": "123"}
    assert mask_payload({"Fax": "12; 1234"}) == {"Fax": "12; *234"}


def test_ten_is_a_name_inside_a_person_and_not_elsewhere() -> None:
    procedure = {"Ten": "Cấp giấy chứng nhận quyền sử dụng đất"}
    assert mask_payload(procedure) == procedure
    assert mask_payload({"NguoiSuDung": {"Ten": NAME}}) == {"NguoiSuDung": {"Ten": MASKED_NAME}}
    assert mask_payload({"NguoiSuDung": {"Ten": [NAME, "Trần Thị B"]}}) == {
        "NguoiSuDung": {"Ten": [MASKED_NAME, "T*** T*** B***"]}
    }


def test_list_items_are_masked_by_their_fields_rule() -> None:
    """Items of a list under a phone field are phone numbers, even in shapes free text keeps."""
    assert mask_payload({"SoDienThoai": ["0912 345 678", "1234 5678"]}) == {
        "SoDienThoai": ["**** *** 678", "**** *678"]
    }


def test_embedded_json_in_free_text_is_masked_by_field() -> None:
    for text in (
        f'  {{"HoTen": "{NAME}", "Ten": "Giấy phép"}}',
        f'[{{"HoTen": "{NAME}"}}]',
    ):
        masked = mask_free_text(text)
        assert NAME not in masked and MASKED_NAME in masked
    assert "Giấy phép" in mask_free_text(f'{{"HoTen": "{NAME}", "Ten": "Giấy phép"}}')


def test_xml_in_free_text_masks_a_persons_name_fields() -> None:
    """The raw SOAP envelopes kept in the log: a ``Ten`` element there is a person's name."""
    envelope = f"<s:Body><ns:NguoiNop><ns:Ten>{NAME}</ns:Ten></ns:NguoiNop></s:Body>"
    assert mask_free_text(envelope) == (
        f"<s:Body><ns:NguoiNop><ns:Ten>{MASKED_NAME}</ns:Ten></ns:NguoiNop></s:Body>"
    )


def test_an_at_sign_alone_does_not_make_an_email() -> None:
    note = "họp phòng 1234 @ tầng 5"
    assert mask_payload({"GhiChu": note}) == {"GhiChu": note}
    assert mask_payload({"GhiChu": "a.nguyen@so.gov.vn"}) == {"GhiChu": "a***@so.gov.vn"}
