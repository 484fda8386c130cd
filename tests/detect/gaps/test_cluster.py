"""Clustering: the product picks the number of gaps; sampling gives the same answer at scale."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from daytwo.detect.gaps import cluster
from daytwo.detect.gaps.cluster import (
    MIN_REGIONS,
    ClusterParams,
    attach_to_intents,
    cluster_utterances,
    regions,
)
from daytwo.detect.gaps.encoders import get_encoder


def blobs(
    sizes: list[int], noise: int, dim: int = 64, spread: float = 0.08, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``len(sizes)`` random directions, plus scattered noise rows."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    rows: list[np.ndarray] = []
    truth: list[int] = []
    for g, n in enumerate(sizes):
        centre = centres[g] / np.linalg.norm(centres[g])
        rows.append(centre + rng.normal(scale=spread, size=(n, dim)))
        truth += [g] * n
    rows.append(rng.normal(size=(noise, dim)))
    truth += [-1] * noise
    x = np.vstack(rows)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.array(truth)


def same_partition(labels: np.ndarray, truth: np.ndarray) -> bool:
    """Every true group is exactly one gap, and noise is in none."""
    for g in set(truth.tolist()) - {-1}:
        found = set(labels[truth == g].tolist())
        if len(found) != 1 or -1 in found:
            return False
        if set(truth[labels == found.pop()].tolist()) != {g}:
            return False
    return bool((labels[truth == -1] == -1).all())


def test_three_groups_and_noise_make_three_gaps_without_being_told_how_many() -> None:
    x, truth = blobs([12, 9, 6], noise=10)
    result = cluster_utterances(x)
    assert result.n_gaps == 3
    assert same_partition(result.labels, truth)
    # Largest first, and each member measured against its own centre.
    assert np.bincount(result.labels[result.labels >= 0]).tolist() == [12, 9, 6]
    inside = result.labels >= 0
    assert np.all(result.similarity[inside] > 0.5)
    assert np.all(np.isnan(result.similarity[~inside]))


def test_a_group_smaller_than_the_minimum_is_not_a_gap() -> None:
    x, truth = blobs([10, 4], noise=5)
    result = cluster_utterances(x, ClusterParams(min_gap_size=5))
    assert result.n_gaps == 1
    assert (result.labels[truth == 1] == -1).all()


def test_sample_then_assign_finds_the_same_gaps_as_clustering_everything() -> None:
    x, truth = blobs([400, 300, 200, 60], noise=300, seed=3)
    whole = cluster_utterances(x, ClusterParams(sample_size=5000))
    sampled = cluster_utterances(x, ClusterParams(sample_size=200, seed=1))
    assert whole.rounds == 3  # one exhaustive round in each pass: the tight one, two looser ones
    assert sampled.rounds >= 3
    assert same_partition(whole.labels, truth)
    assert same_partition(sampled.labels, truth)


def test_clustering_is_deterministic_for_a_seed() -> None:
    x, _ = blobs([50, 40], noise=30, seed=5)
    a = cluster_utterances(x, ClusterParams(sample_size=40, seed=7))
    b = cluster_utterances(x, ClusterParams(sample_size=40, seed=7))
    assert np.array_equal(a.labels, b.labels)


def test_too_few_utterances_make_no_gap() -> None:
    x, _ = blobs([3], noise=0)
    result = cluster_utterances(x)
    assert result.n_gaps == 0
    assert (result.labels == -1).all()


def test_the_similarity_cut_decides_how_many_gaps() -> None:
    x, _ = blobs([10, 10], noise=0)
    assert cluster_utterances(x).n_gaps == 2
    loose = cluster_utterances(x, ClusterParams(min_similarity=-0.5))
    assert loose.n_gaps == 1
    assert loose.min_similarity == -0.5


def test_a_request_worded_more_variously_is_a_gap_of_a_looser_pass() -> None:
    # Members of the second group are about 0.40 alike (spread 0.153 in 64 dimensions: 1 /
    # (1 + 64 x 0.153^2)), under the 0.45 cut but within its 0.10 relaxation; noise is ~0.
    tight, _ = blobs([12], noise=0, seed=2)
    loose, _ = blobs([12], noise=10, spread=0.153, seed=4)
    x = np.vstack([tight, loose])
    truth = np.array([0] * 12 + [1] * 12 + [-1] * 10)
    strict = cluster_utterances(x, ClusterParams(relax=()))
    assert strict.n_gaps == 1
    assert (strict.labels[truth == 1] == -1).all()
    relaxed = cluster_utterances(x)
    assert relaxed.n_gaps == 2
    assert (relaxed.labels[truth == 0] == 0).all()
    # The looser gap holds most of its group (those least like the rest stay out) and no noise.
    assert (relaxed.labels[truth == 1] == 1).sum() >= 9
    assert set(relaxed.labels[relaxed.labels == 1].tolist()) == {1}
    assert (relaxed.labels[truth == -1] == -1).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_gap_size": 1},
        {"sample_size": 5},
        {"min_similarity": 1.5},
        {"relax": (0.1, 0.05)},
        {"relax": (0.0,)},
        {"min_similarity": 0.2, "relax": (1.3,)},
        {"join": -0.1},
        {"min_similarity": 0.2, "join": 1.3},
    ],
)
def test_bad_params_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ClusterParams(**kwargs)  # type: ignore[arg-type]


def shared_domain(sizes: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Groups that share one strong direction (a contact centre's domain and register) and
    differ by a weaker one each: alike overall, apart once what they share is taken away."""
    rng = np.random.default_rng(seed)
    dim = 64
    common = rng.normal(size=dim)
    directions = rng.normal(size=(len(sizes), dim))
    rows: list[np.ndarray] = []
    truth: list[int] = []
    for g, n in enumerate(sizes):
        base = 0.8 * common / np.linalg.norm(common)
        base += 0.5 * directions[g] / np.linalg.norm(directions[g])
        rows.append(base + rng.normal(scale=0.04, size=(n, dim)))
        truth += [g] * n
    x = np.vstack(rows)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.array(truth)


def test_centred_similarity_keeps_requests_that_share_their_domain_apart() -> None:
    x, truth = shared_domain([12, 9, 8, 6])
    plain = cluster_utterances(x, ClusterParams(min_similarity=0.45, relax=()))
    assert plain.n_gaps == 1  # the shared domain makes every request look alike
    centred = cluster_utterances(x, ClusterParams(min_similarity=0.45, relax=(), centre=True))
    assert same_partition(centred.labels, truth)
    # Centres are given in the encoder's own space, not the centred one.
    for g in range(centred.n_gaps):
        members = x[centred.labels == g].mean(axis=0)
        assert float(centred.centroids[g] @ members / np.linalg.norm(members)) > 0.999


def test_one_request_asked_far_more_often_than_the_rest_stays_one_gap_when_centred() -> None:
    # Centred on the plain mean, a request that is most of the traffic would be most of the
    # background, and its own utterances would scatter; counted by region it stays one gap.
    x, truth = shared_domain([400, 12, 9, 6], seed=1)
    centred = cluster_utterances(x, ClusterParams(min_similarity=0.45, relax=(), centre=True))
    assert centred.n_gaps == 4
    for g in range(4):
        found = centred.labels[truth == g]
        assert len(set(found[found >= 0].tolist())) == 1  # one gap, and only its own
        assert (found >= 0).mean() >= 0.95
        assert set(truth[centred.labels == found.max()].tolist()) == {g}


def test_traffic_of_a_few_requests_is_too_few_regions_to_centre_on() -> None:
    few, _ = shared_domain([12, 9, 8])
    many, _ = blobs([6] * 40, noise=0, spread=0.02)
    assert regions(few) < MIN_REGIONS <= regions(many)


def with_stragglers(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tight groups, each with two wordings less like it (similarity about 0.6 to its
    centre, far less to each other), plus scattered noise rows (``-1``)."""
    rng = np.random.default_rng(seed)
    dim = 64
    centres = rng.normal(size=(3, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rows: list[np.ndarray] = []
    truth: list[int] = []
    for g, c in enumerate(centres):
        rows.append(c + rng.normal(scale=0.05, size=(10, dim)))
        away = rng.normal(size=(2, dim))
        away -= np.outer(away @ c, c)
        away /= np.linalg.norm(away, axis=1, keepdims=True)
        rows.append(0.6 * c + 0.8 * away)
        truth += [g] * 12
    rows.append(rng.normal(size=(6, dim)))
    truth += [-1] * 6
    x = np.vstack(rows)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.array(truth)


def test_what_no_gap_holds_joins_its_nearest_gap_down_to_the_join() -> None:
    x, truth = with_stragglers()
    alone = cluster_utterances(x, ClusterParams(min_similarity=0.7, relax=()))
    assert alone.n_gaps == 3
    assert (alone.labels == -1).sum() == 6 + 6  # the stragglers and the noise
    joined = cluster_utterances(x, ClusterParams(min_similarity=0.7, relax=(), join=0.25))
    assert joined.n_gaps == 3  # no new gap: only existing ones grow
    assert same_partition(joined.labels, truth)  # each straggler in its own group's gap
    # Not far enough down: the stragglers stay alone.
    short = cluster_utterances(x, ClusterParams(min_similarity=0.7, relax=(), join=0.05))
    assert np.array_equal(short.labels, alone.labels)


def _near(centre: np.ndarray, n: int, rng: np.random.Generator, spread: float) -> np.ndarray:
    rows = centre + rng.normal(scale=spread, size=(n, len(centre)))
    out: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def test_a_known_intents_misses_make_one_gap_of_their_own_for_that_intent() -> None:
    rng = np.random.default_rng(3)
    dim = 64
    directions = rng.normal(size=(4, dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    intents = directions[:2]  # two known intents; two new requests
    middle = (intents[0] + intents[1]) / np.linalg.norm(intents[0] + intents[1])
    x = np.vstack(
        [
            _near(directions[2], 20, rng, 0.08),  # a new request: a gap
            _near(directions[3], 20, rng, 0.08),  # another
            _near(intents[0], 4, rng, 0.12),  # misses of intent 0: too few for a gap
            _near(intents[1], 2, rng, 0.12),  # misses of intent 1: fewer than attach_min
            np.repeat(middle[None, :], 3, axis=0),  # exactly as near one intent as the other
            rng.normal(size=(5, dim)),  # noise
        ]
    ).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    params = ClusterParams(min_similarity=0.6, relax=())
    clustering = cluster_utterances(x, params)
    assert clustering.n_gaps == 2
    assert (clustering.labels[40:] == -1).all()

    rule = ClusterParams(min_similarity=0.6, relax=(), attach=-0.1, attach_margin=0.05)
    attached, made = attach_to_intents(x, clustering, intents, rule)
    assert attached.n_gaps == 3
    assert list(made.values()) == [0]  # one gap, for intent 0: "retrain intent 0"
    (gap,) = made
    assert np.flatnonzero(attached.labels == gap).tolist() == [40, 41, 42, 43]
    # A caller done with its vectors lets them be made unit in place: the same gaps to the bit.
    mine, made_in_place = attach_to_intents(x.copy(), clustering, intents, rule, overwrite=True)
    assert made_in_place == made
    assert np.array_equal(mine.labels, attached.labels)
    assert np.array_equal(mine.similarity, attached.similarity, equal_nan=True)
    assert np.array_equal(mine.centroids, attached.centroids)
    # The gaps already found keep their members (renumbered by size); intent 1's two misses
    # (fewer than attach_min), the rows between the two intents (no margin) and the noise
    # stay alone.
    for g in range(2):
        members = np.flatnonzero(clustering.labels == g)
        assert len(set(attached.labels[members].tolist())) == 1
    assert (attached.labels[44:] == -1).all()
    # Too high a bar, or no attach at all: nothing changes.
    for off in (ClusterParams(min_similarity=0.6, relax=(), attach=0.3), params):
        same, none = attach_to_intents(x, clustering, intents, off)
        assert none == {}
        assert np.array_equal(same.labels, clustering.labels)


def test_cosine_distances_are_the_symmetrised_matrix_to_the_bit() -> None:
    # What the linkage reads, read off the upper triangle of one product: the same bits as the
    # full matrix averaged with its mirror, clipped, diagonal zeroed, then condensed.
    from scipy.spatial.distance import squareform

    from daytwo.detect.gaps.cluster import cosine_distances

    rng = np.random.default_rng(3)
    rows = rng.normal(size=(300, 384)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    rows[7] = rows[3]  # a repeated wording: distance about zero, clipped
    x = rows.astype(np.float64)
    full = 1.0 - x @ x.T
    full = (full + full.T) / 2
    np.fill_diagonal(full, 0.0)
    expected = np.clip(squareform(full, checks=False), 0.0, 2.0)
    got = cosine_distances(rows)
    assert got.dtype == np.float64
    assert np.array_equal(got, expected)


def test_unit_rows_a_chunk_at_a_time_are_the_whole_arrays_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Rows are normalised (and centred) a chunk at a time, without the float64 copies of the
    # whole array: each row's norm is its own, so the result is the same to the bit.
    x, _ = blobs([40, 30], noise=30, dim=32)
    x[3] = 0.0  # a zero row stays zero
    centre = x[10:].mean(axis=0).astype(np.float64)

    def whole(rows: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (rows / norms).astype(np.float32)

    monkeypatch.setattr(cluster, "UNIT_CHUNK", 7)
    assert np.array_equal(cluster._unit(x), whole(x))
    assert np.array_equal(cluster._unit(x[10:], centre), whole(x[10:] - centre))
    assert cluster._unit(x[:0]).shape == (0, 32)


def test_clustering_in_place_gives_the_same_gaps() -> None:
    # A caller done with its vectors lets the clustering make them unit in place (one copy
    # fewer): the same labels, similarities and centres to the bit.
    x, _ = blobs([40, 30, 20], noise=30)
    params = ClusterParams(min_similarity=0.5)
    apart = cluster_utterances(x, params)
    mine = x.copy()
    inside = cluster_utterances(mine, params, overwrite=True)
    assert np.array_equal(apart.labels, inside.labels)
    assert np.array_equal(apart.similarity, inside.similarity, equal_nan=True)
    assert np.array_equal(apart.centroids, inside.centroids)


def test_members_similarity_a_chunk_at_a_time_is_all_at_once_to_the_bit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each member's similarity to its centre, measured a chunk of members at a time (no copy
    # of every member's vector and its centre's): the same bits as one product over all.
    x, _ = blobs([40, 30, 20], noise=30)
    monkeypatch.setattr(cluster, "UNIT_CHUNK", 7)
    found = cluster_utterances(x, ClusterParams(min_similarity=0.5))
    inside = found.labels >= 0
    assert inside.sum() > 7 * 3
    unit = cluster._unit(x)
    whole = np.einsum("ij,ij->i", unit[inside], found.centroids[found.labels[inside]])
    assert np.array_equal(found.similarity[inside], whole)
    assert np.isnan(found.similarity[~inside]).all()


CLINC = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "clinc150"


@pytest.fixture(scope="module")
def repeated_real() -> np.ndarray:
    """MiniLM rows of 200 CLINC150 requests, drawn 600 times with repeats (support traffic
    repeats itself: a demo's sample of 4,000 candidates holds about 2,750 distinct ones)."""
    data = json.loads((CLINC / "data_full.json").read_text())
    texts = [str(t) for t, _ in data["test"][::20][:200]]
    vectors = get_encoder("minilm").encode(texts)
    rows = vectors[np.random.default_rng(5).choice(len(texts), 600, replace=True)]
    return cluster._unit(rows)


def test_cosine_distances_of_repeated_real_utterances_are_the_plain_products_bits(
    repeated_real: np.ndarray,
) -> None:
    # Repeated rows are multiplied once and each pair's entry read from the product of the
    # distinct rows: the same bits as the product of every row, so the linkage reads the same
    # numbers and cuts the same clusters, numbered the same.
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    from daytwo.detect.gaps.cluster import cosine_distances

    distinct, index = cluster._distinct_rows(repeated_real.astype(np.float64))
    assert 150 < len(distinct) < len(repeated_real)  # the path over distinct rows is taken
    assert np.array_equal(distinct[index], repeated_real.astype(np.float64))
    x = repeated_real.astype(np.float64)
    plain = np.clip(1.0 - squareform(x @ x.T, checks=False), 0.0, 2.0)
    got = cosine_distances(repeated_real)
    assert got.dtype == np.float64
    assert np.array_equal(got, plain)
    for s in (0.45, 0.55, 0.7):
        expected = fcluster(linkage(plain, method="average"), t=1.0 - s, criterion="distance") - 1
        assert np.array_equal(cluster._linkage_clusters(repeated_real, s), expected)


def test_each_gaps_members_and_centre_are_those_of_its_mask(repeated_real: np.ndarray) -> None:
    # The rows of each gap come from one sort of the labels, not one pass a gap: the same
    # rows in the same order, so the same centres to the bit.
    found = cluster_utterances(repeated_real, ClusterParams(min_similarity=0.55, relax=()))
    assert found.n_gaps > 3
    assert (found.labels < 0).any()
    rows = cluster.members(found.labels, found.n_gaps)
    for g in range(found.n_gaps):
        assert np.array_equal(rows[g], np.flatnonzero(found.labels == g))
    x = cluster._unit(repeated_real)  # the rows the clustering measures
    masked = np.stack([x[found.labels == g].mean(axis=0) for g in range(found.n_gaps)])
    assert np.array_equal(found.centroids, cluster._unit(masked))
    assert cluster.members(np.full(4, -1), 0) == []


@pytest.mark.parametrize(
    "params",
    [
        ClusterParams(min_similarity=0.55, relax=()),
        # Sampled rounds (a sample of 150 of the 600), the looser passes and the join.
        ClusterParams(min_similarity=0.6, sample_size=150, relax=(0.05, 0.1), join=0.1),
        ClusterParams(min_similarity=0.35, sample_size=150, centre=True, join=0.05),
    ],
)
def test_distinct_vectors_and_an_index_give_the_gaps_of_one_row_per_utterance(
    repeated_real: np.ndarray, params: ClusterParams
) -> None:
    # The candidates repeat their wordings: the clustering takes the distinct texts' vectors
    # and each utterance's row among them, and finds what one row per utterance finds (labels
    # over the utterances, their similarities and the centres, to the bit), in place or not.
    distinct, index = cluster._distinct_rows(repeated_real)
    assert len(distinct) < len(repeated_real)
    rows = distinct[index]
    every = cluster_utterances(rows.copy(), params)
    assert every.n_gaps > 3
    assert (every.labels < 0).any()
    for overwrite in (False, True):
        found = cluster_utterances(distinct.copy(), params, overwrite=overwrite, index=index)
        assert np.array_equal(found.labels, every.labels)
        assert np.array_equal(found.similarity, every.similarity, equal_nan=True)
        assert np.array_equal(found.centroids, every.centroids)
        assert found.rounds == every.rounds
    assert regions(distinct, 150, index=index) == regions(rows, 150)
    # The attachment of what no gap holds to the nearest known intent, the same way.
    attach = ClusterParams(min_similarity=0.7, relax=(), attach=-0.2, attach_min=2)
    plain = cluster_utterances(rows, attach)
    centres = cluster._unit(rows[:: len(rows) // 12][:12])
    expected, made = attach_to_intents(rows.copy(), plain, centres, attach)
    assert made
    got, got_made = attach_to_intents(distinct.copy(), plain, centres, attach, index=index)
    assert got_made == made
    assert np.array_equal(got.labels, expected.labels)
    assert np.array_equal(got.similarity, expected.similarity, equal_nan=True)
    assert np.array_equal(got.centroids, expected.centroids)


def test_a_clustering_takes_ordinary_pages_and_gives_numpy_its_choice_back() -> None:
    from numpy._core.multiarray import (  # type: ignore[attr-defined]
        _get_madvise_hugepage,
        _set_madvise_hugepage,
    )

    x, _ = blobs([30, 30], noise=10)
    before = _set_madvise_hugepage(True)
    try:
        seen: list[bool] = []
        real = cluster._cluster_utterances

        def spy(*args: object, **kwargs: object) -> cluster.Clustering:
            seen.append(_get_madvise_hugepage())
            with cluster.small_pages():  # a clustering inside another (another thread's)
                seen.append(_get_madvise_hugepage())
            seen.append(_get_madvise_hugepage())
            return real(*args, **kwargs)  # type: ignore[arg-type]

        cluster._cluster_utterances = spy
        try:
            found = cluster_utterances(x, ClusterParams(min_similarity=0.5))
        finally:
            cluster._cluster_utterances = real
        assert seen == [False, False, False]
        assert _get_madvise_hugepage()
        # The same gaps, to the bit, as with huge pages.
        plain = real(x, ClusterParams(min_similarity=0.5), overwrite=False, index=None)
        assert np.array_equal(found.labels, plain.labels)
        assert found.centroids.tobytes() == plain.centroids.tobytes()
        # A process that chose ordinary pages itself keeps them; a failure gives the choice back.
        _set_madvise_hugepage(False)
        cluster_utterances(x, ClusterParams(min_similarity=0.5))
        assert not _get_madvise_hugepage()
        _set_madvise_hugepage(True)
        with pytest.raises(ValueError, match="boom"), cluster.small_pages():
            raise ValueError("boom")
        assert _get_madvise_hugepage()
    finally:
        _set_madvise_hugepage(before)
