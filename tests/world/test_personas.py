import numpy as np
import pytest

from spreadlab.errors import ConfigError, DataFormatError
from spreadlab.world.personas import (
    N_PROFILES,
    PRESETS,
    PersonalityMix,
    parse_mix,
    persona_text,
    profile_code,
    profile_label,
    trait_levels,
    trait_matrix,
)


def test_codes_and_labels_are_a_stable_bijection():
    labels = [profile_label(c) for c in range(N_PROFILES)]
    assert len(set(labels)) == 32
    assert labels[0] == "O-C-E-A-N-" and labels[31] == "O+C+E+A+N+"
    assert profile_label(0b10101) == "O+C-E+A-N+"
    assert all(profile_code(label) == c for c, label in enumerate(labels))
    assert trait_levels(0b00100) == {"O": False, "C": False, "E": True, "A": False, "N": False}
    assert trait_matrix()[0b10001].tolist() == [1, 0, 0, 0, 1]


def test_persona_text_names_every_trait_level():
    text = persona_text(profile_code("O+C-E+A-N+"))
    for phrase in (
        "high in openness",
        "low in conscientiousness",
        "high in extraversion",
        "low in agreeableness",
        "high in neuroticism",
        "O+C-E+A-N+",
    ):
        assert phrase in text
    assert len({persona_text(c) for c in range(32)}) == 32


def test_trait_probability_mix_matches_its_marginals():
    mix = PersonalityMix.from_trait_probabilities({"E": 0.9, "N": 0.2})
    p = mix.probabilities
    assert p.sum() == pytest.approx(1)
    marginals = trait_matrix().T @ p
    assert marginals == pytest.approx([0.5, 0.5, 0.9, 0.5, 0.2])


def test_assignment_is_seeded_and_follows_the_mix():
    mix = PRESETS["extraverted"]
    a = mix.assign(20000, np.random.default_rng(3))
    b = mix.assign(20000, np.random.default_rng(3))
    assert np.array_equal(a, b)
    high_e = trait_matrix()[a.astype(int), 2].mean()
    assert abs(high_e - 0.85) < 0.02


def test_explicit_weights_by_label_and_code():
    mix = PersonalityMix.from_weights({"O+C+E+A+N+": 3, "0": 1})
    assert mix.probabilities[31] == pytest.approx(0.75)
    assert mix.probabilities[0] == pytest.approx(0.25)
    assert parse_mix("weights:O+C+E+A+N+=3,0=1").weights == mix.weights


@pytest.mark.parametrize(
    "spec, message",
    [
        ("weights:3=-1", "negative"),
        ("weights:3=0", "all-zero"),
        ("traits:E=1.5", "[0, 1]"),
        ("traits:X=0.5", "unknown trait"),
        ("nonsense", "unknown mix"),
        ("weights:", "empty"),
        ("weights:40=1", "outside 0–31"),
    ],
)
def test_bad_mixes_are_refused_clearly(spec, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_mix(spec)


def test_mix_json_file(tmp_path):
    path = tmp_path / "mix.json"
    path.write_text('{"traits": {"A": 0.1}}')
    assert trait_matrix().T[3] @ parse_mix(str(path)).probabilities == pytest.approx(0.1)
    path.write_text("{oops")
    with pytest.raises(DataFormatError, match=r"mix\.json"):
        parse_mix(str(path))
