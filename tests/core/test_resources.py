"""What the machine has: the processor a run's manifest names."""

from simulator.core.resources import processor

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2 bmi2 sha_ni
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2 bmi2 sha_ni
"""

ARM = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp sve
CPU implementer\t: 0x41
"""


def test_x86_model_and_vector_extensions(tmp_path):
    (tmp_path / "cpuinfo").write_text(X86)
    assert processor(tmp_path / "cpuinfo") == {"model": "AMD EPYC 7B13",
                                               "vector_extensions": ["sse4_2", "avx", "avx2", "fma"]}


def test_avx512_is_told_apart(tmp_path):
    (tmp_path / "cpuinfo").write_text(X86.replace("avx2", "avx2 avx512f avx512dq"))
    assert processor(tmp_path / "cpuinfo")["vector_extensions"] == [
        "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq"]


def test_arm_features_and_a_model_from_platform(tmp_path):
    (tmp_path / "cpuinfo").write_text(ARM)
    found = processor(tmp_path / "cpuinfo")
    assert found["vector_extensions"] == ["asimd", "sve"] and found["model"]


def test_without_cpuinfo_the_extensions_are_unknown(tmp_path):
    found = processor(tmp_path / "missing")
    assert found["vector_extensions"] == [] and isinstance(found["model"], str)
