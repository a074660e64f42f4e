from __future__ import annotations

import copy

import pytest

from lgsp.messagelog.masking import mask_digits, mask_email, mask_name, mask_payload


def test_dossier_payload() -> None:
    dossier = {
        "MaHoSo": "000.00.12.H02-261126-0007",  # dossier code: kept
        "MaTTHC": "2.002492",
        "ChuHoSo": "Nguyễn Văn An",
        "SoGiayToChuHoSo": "079203001234",
        "SoDienThoai": "0912345678",
        "Email": "nguyenvana@gmail.com",
        "NgayNopHoSo": "20261126083000",
        "TrangThaiHoSo": "2",
        "GhiChu": "Liên hệ 0987654321 hoặc CCCD 001099012345 khi trả kết quả",
        "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "001099012345"}],
        "DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí", "Gia": "100000000000"}],
    }
    original = copy.deepcopy(dossier)
    masked = mask_payload(dossier)
    assert dossier == original  # pure: the input is untouched
    assert masked["MaHoSo"] == "000.00.12.H02-261126-0007"
    assert masked["MaTTHC"] == "2.002492"
    assert masked["ChuHoSo"] == "N*** V*** A***"
    assert masked["SoGiayToChuHoSo"] == "*********234"
    assert masked["SoDienThoai"] == "*******678"
    assert masked["Email"] == "n***@gmail.com"
    assert masked["NgayNopHoSo"] == "20261126083000"
    assert masked["TrangThaiHoSo"] == "2"
    assert masked["GhiChu"] == "Liên hệ *******321 hoặc CCCD *********345 khi trả kết quả"
    assert masked["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": "*********345"}]
    assert masked["DanhSachLePhi"][0]["Gia"] == "100000000000"  # an amount, not an id


def test_land_intake_person_block() -> None:
    intake = {
        "MaHoSoMotCua": "000.00.12.H02-261126-0007",
        "NguoiTiepNhan": "can-bo-01",
        "ThongTinNguoiNopDon": {
            "HoTen": "Trần Thị Bình",
            "SoChungMinh": "079303004567",
            "DiaChiChiTiet": "12 Lê Lợi",
            "SoDienThoai": "+84912345678",
            "Email": "binh.tran@example.vn",
        },
        "NguoiSuDung": {"Ten": "Lê Văn Cường", "CCCD": "079203009999"},
        "reporter": {"name": "Pham Minh", "phone": "0398765432"},
    }
    masked = mask_payload(intake)
    person = masked["ThongTinNguoiNopDon"]
    assert person["HoTen"] == "T*** T*** B***"
    assert person["SoChungMinh"] == "*********567"
    assert person["SoDienThoai"] == "+********678"
    assert person["Email"] == "b***@example.vn"
    assert person["DiaChiChiTiet"] == "12 Lê Lợi"
    assert masked["NguoiSuDung"] == {"Ten": "L*** V*** C***", "CCCD": "*********999"}
    assert masked["reporter"] == {"name": "P*** M***", "phone": "*******432"}
    assert masked["MaHoSoMotCua"] == intake["MaHoSoMotCua"]


def test_postal_and_sms_and_payment() -> None:
    order = {
        "OrderNumber": "000.00.12.H02-261126-0007",
        "SenderName": "UBND xã Tân An",
        "SenderTel": "02513822222",
        "ReceiverName": "Võ Thị Hoa",
        "ReceiverTel": "0912000111",
        "ReceiverEmail": "hoa@yahoo.com",
        "CODAmount": 0,
        "ThongTinBienLai": {"HoTenNguoiNop": "Đặng Văn Em", "MaHoSo": "X-1"},
        "RQST": {"PARAMS": [{"NUM": "84912345678", "CONTENT": "Ho so da co ket qua"}]},
        "UserID": "84912345678",
    }
    masked = mask_payload(order)
    assert masked["SenderName"] == "U*** x*** T*** A***"
    assert masked["SenderTel"] == "********222"
    assert masked["ReceiverName"] == "V*** T*** H***"
    assert masked["ReceiverTel"] == "*******111"
    assert masked["ReceiverEmail"] == "h***@yahoo.com"
    assert masked["CODAmount"] == 0
    assert masked["ThongTinBienLai"] == {"HoTenNguoiNop": "Đ*** V*** E***", "MaHoSo": "X-1"}
    assert masked["RQST"]["PARAMS"][0]["NUM"] == "********678"
    assert masked["RQST"]["PARAMS"][0]["CONTENT"] == "Ho so da co ket qua"
    assert masked["UserID"] == "********678"


def test_shapes_and_scalars() -> None:
    assert mask_payload(None) is None
    assert mask_payload(42) == 42
    assert mask_payload(True) is True
    assert mask_payload("079203001234") == "*********234"  # a bare CCCD
    assert mask_payload(["0912345678", {"x": 1}]) == ["*******678", {"x": 1}]
    assert mask_payload({"SoDienThoai": 912345678}) == {"SoDienThoai": "******678"}
    assert mask_payload({"HoTen": None, "Email": ""}) == {"HoTen": None, "Email": ""}
    assert mask_payload({"contact": "someone@example.org"}) == {"contact": "s***@example.org"}
    assert mask_payload({"ho_ten": "An"}) == {"ho_ten": "A***"}


def test_helpers() -> None:
    assert mask_name("  Nguyễn   An ") == "  N***   A*** "
    assert mask_digits("0912 345 678") == "**** *** 678"
    assert mask_digits("12") == "12"  # too short to identify anyone
    assert mask_digits("0912345678, 0987654321") == "*******678, *******321"
    assert mask_email("not-an-email") == "not-an-email"


def test_raw_exchanges_in_the_log_are_masked_too() -> None:
    import json

    from lgsp.messagelog.masking import mask_payload

    rest = json.dumps(
        {
            "ChuHoSo": "Lê Thị Hoa",
            "SoGiayToChuHoSo": "056185004321",
            "MaHoSo": "000.00.01.H56-261126-0001",
        },
        ensure_ascii=False,
    )
    soap = (
        "<soap:Body><ns0:NhanHoSo><ns0:ChuHoSo>Lê Thị Hoa</ns0:ChuHoSo>"
        "<ns0:SoDienThoai>0905123456</ns0:SoDienThoai>"
        "<ns0:MaHoSo>000.00.01.H56-261126-0001</ns0:MaHoSo></ns0:NhanHoSo></soap:Body>"
    )
    masked = mask_payload({"captures": [{"body": rest}, {"body": soap}]})
    rest_out, soap_out = (c["body"] for c in masked["captures"])
    assert "Lê Thị Hoa" not in rest_out and "056185004321" not in rest_out
    assert json.loads(rest_out)["MaHoSo"] == "000.00.01.H56-261126-0001"
    assert "Lê Thị Hoa" not in soap_out and "0905123456" not in soap_out
    assert "<ns0:MaHoSo>000.00.01.H56-261126-0001</ns0:MaHoSo>" in soap_out
    assert "<ns0:ChuHoSo>L*** T*** H***</ns0:ChuHoSo>" in soap_out


@pytest.mark.parametrize(
    "number",
    [
        "0326123456",  # Viettel 03x
        "0562123456",  # Vietnamobile 05x
        "0702123456",  # MobiFone 07x
        "0812123456",  # VinaPhone 08x
        "0912123456",  # 09x
        "+84326123456",
        "84812123456",
    ],
)
def test_mobile_numbers_in_free_text_are_masked_whatever_the_network(number: str) -> None:
    text = f"Gọi {number} khi có kết quả."
    masked = mask_payload({"GhiChu": text})["GhiChu"]
    assert number not in masked
    assert masked.startswith("Gọi ") and masked.endswith(number[-3:] + " khi có kết quả.")


@pytest.mark.parametrize("text", ["Mã hồ sơ 000.00.01.H56-261126-0001", "Số tiền 0212345678"])
def test_free_text_keeps_what_is_not_a_personal_number(text: str) -> None:
    # A landline-like 02x number is not a mobile and not a CCCD.
    assert mask_payload({"GhiChu": text})["GhiChu"] == text
