"""The variant probe table of `byoc doctor` keeps up with the sandbox: every behaviour an emulator
offers in several forms has a probe (a read, a reversible write, or at least the manual step)."""

from __future__ import annotations

from byoc.adapters.audiocodes_exports import coder_groups_from_ini, parse_ini
from byoc.services.doctor import codec_names
from byoc.services.doctor_probes import PROBES
from sandbox.launcher import emulator_classes


def test_every_sandbox_variant_has_a_doctor_probe() -> None:
    probed = {p.variant for p in PROBES}
    offered = {f"{section}.{name}" for section, cls in emulator_classes().items()
               for name in cls.VARIANTS}

    missing = sorted(offered - probed)

    assert not missing, (f"add a VariantProbe to byoc/services/doctor_probes.py for {missing} "
                         "(a read that shows it, a reversible write, or the manual step)")


def test_every_probe_names_the_manual_step() -> None:
    for probe in PROBES:
        assert probe.manual.strip(), probe.variant
        assert probe.variant.count(".") == 1, probe.variant


def test_coder_groups_are_read_from_an_ini_export_with_the_profiles_that_use_them() -> None:
    text = (
        "[ AudioCodersGroups ]\nFORMAT Index = Name;\nAudioCodersGroups 0 = \"ACG_BYOC\";\n"
        "AudioCodersGroups 1 = \"ACG_Spare\";\n[ \\AudioCodersGroups ]\n"
        "[ AudioCoders ]\nFORMAT Index = AudioCodersGroupId, AudioCodersIndex, Name, pTime;\n"
        "AudioCoders 0 = \"ACG_BYOC\", 1, \"g711Alaw64k\", $$;\n"
        "AudioCoders 1 = \"ACG_BYOC\", 0, \"g711Ulaw64k\", $$;\n"
        "AudioCoders 2 = \"ACG_Spare\", 0, \"g729\", $$;\n[ \\AudioCoders ]\n"
        "[ IpProfile ]\nFORMAT Index = ProfileName, CodersGroupName;\n"
        "IpProfile 0 = \"IPP_Twilio\", \"ACG_BYOC\";\n[ \\IpProfile ]\n"
    )

    groups = coder_groups_from_ini(parse_ini(text))

    assert groups.in_use == ("ACG_BYOC",)
    assert groups.coders("acg_byoc") == ("g711Ulaw64k", "g711Alaw64k")
    assert groups.coders("ACG_Spare") == ("g729",)
    assert codec_names(groups.coders("ACG_BYOC"), "audiocodes") == (["PCMU", "PCMA"], [])
    assert codec_names(("audio/opus", "audio/PCMU", "video/h264"), "genesys") == (
        ["OPUS", "PCMU"], ["video/h264"])


def test_the_verify_page_says_how_doctor_tells_every_variant() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parents[3] / "docs" / "verify-on-a-real-tenant.md").read_text()

    assert "byoc doctor" in page
    for probe in PROBES:
        assert f"`{probe.variant}`" in page, probe.variant
