"""Where each benchmark file comes from, its known SHA-256, and the manual-folder lookup.

The files are never downloaded by code: users fetch them once (docs/data.md) and point
``JTRANSFER_MANUAL_DIR`` (or ``manual_dir=``) at the folder that holds one subfolder per
dataset, e.g. ``<manual_dir>/office_caltech10_surf/amazon_SURF_L10.mat``. A folder holding the
files directly also works.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib

__all__ = ["DataFileError", "Source", "SOURCES", "default_manual_dir", "resolve_files",
           "sha256"]


class DataFileError(ValueError):
    """A benchmark file is missing or does not have the expected SHA-256 checksum."""


@dataclasses.dataclass(frozen=True)
class Source:
    """Provenance of one dataset's files."""

    folder: str  # subfolder of the manual-download folder
    files: dict[str, str]  # file name -> SHA-256 hex digest
    source: str  # where the exact bytes come from
    citation: str  # what to cite


SOURCES: dict[str, Source] = {
    "office_caltech10": Source(
        folder="office_caltech10_surf",
        files={
            "amazon_SURF_L10.mat":
                "df32548b994e18d364c99e1f317e1fae100597259f0423a41b90f4f68187bb1f",
            "amazon_SURF_L10_imgs.mat":
                "6d1624443b99f69a2f80bdfea25800f49c339db2f702ce06328618ae7e3b7e59",
            "Caltech10_SURF_L10.mat":
                "4f9334c8ced489d5054de97a5fd51a61f017f3bcd1f38c9a85c6d78cb9d7bda5",
            "Caltech10_SURF_L10_imgs.mat":
                "9f11333e518aa550464464dc0490576d9779ef7d18b9cbbab5195526d8de5ee5",
            "dslr_SURF_L10.mat":
                "44d673c68e1d07b837893aa74dba3b986e4a6cc3fd66f0dd357683bdef059216",
            "dslr_SURF_L10_imgs.mat":
                "ef8db1910ca89c717b8c992de1c4a1923694e6f2138465cee8483924c9aaef45",
            "webcam_SURF_L10.mat":
                "a6a9c78b4b7181dfbb58bcfd351d4ebd737f171c31247b8884948aa156d3f700",
            "webcam_SURF_L10_imgs.mat":
                "35a6b38a2df34af6f7a34e0030e89f71540aefac84f0ea8645b3a85d57c9e6be",
        },
        source=("GFK data package, as shipped in GitHub VisionLearningGroup/CORAL "
                "code/CORAL_Source_Code.zip (commit 7fc1be48), members "
                "CORAL_Source_Code/data/*_SURF_L10*.mat; byte-identical copies in "
                "jindongwang/transferlearning code/BDA/data/"),
        citation=("B. Gong, Y. Shi, F. Sha, K. Grauman, 'Geodesic Flow Kernel for Unsupervised "
                  "Domain Adaptation', CVPR 2012; K. Saenko, B. Kulis, M. Fritz, T. Darrell, "
                  "'Adapting Visual Category Models to New Domains', ECCV 2010"),
    ),
    "amazon_reviews": Source(
        folder="amazon_reviews_dann",
        files={
            "books_test.svmlight":
                "fe4605c7dcf0e0a9410fd2a32f247caaf9abb352cc6e4c3e0f400853163ad9c4",
            "books_train.svmlight":
                "317f9a2ec34b81de770b63a84d8c5cc2dc16bd0be6e079d2ff5b5bad5213ea19",
            "dvd_test.svmlight":
                "4fe1b1a15010f78d8d0c49fe362d35fd4677463a45f1ac02a9f410ae1e638060",
            "dvd_train.svmlight":
                "95f602aa08bf6b55758f7b0b18df3882fe30acb11987ee60b6b4bb3c44cba733",
            "electronics_test.svmlight":
                "641783bc941839c3a111d3488a1b7e3bd820a61ec14a129e7429b47703aa961d",
            "electronics_train.svmlight":
                "7d0061f03ff3827e4f8036b051b5e5828fddc0cd115aa5b212cd28d624dc14e4",
            "kitchen_test.svmlight":
                "e1502b97a824eb12314be4447394fa736fecb781c0724e6529cd6733ac7ff6d8",
            "kitchen_train.svmlight":
                "a70b5ebfe1413e0e16280360905f5c3b64389c435cd20c0165dc9d7f293b31b5",
        },
        source=("GitHub GRAAL-Research/domain_adversarial_neural_network, folder data/ "
                "(added in commit 35d15ded)"),
        citation=("J. Blitzer, M. Dredze, F. Pereira, 'Biographies, Bollywood, Boom-boxes and "
                  "Blenders: Domain Adaptation for Sentiment Classification', ACL 2007; "
                  "Y. Ganin et al., 'Domain-Adversarial Training of Neural Networks', "
                  "JMLR 17(59), 2016"),
    ),
    "usps": Source(
        folder="usps",
        files={"usps.h5": "734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36"},
        source=("GitHub niuers/Learning-From-Data-A-Short-Course, data/usps.h5 (commit "
                "35684e89); the Kaggle 'usps.h5' layout (bistaumanga/usps-dataset)"),
        citation=("J. J. Hull, 'A database for handwritten text recognition research', "
                  "IEEE TPAMI 16(5), 1994"),
    ),
    "mnist": Source(
        folder="mnist",
        files={
            "t10k-images-idx3-ubyte.gz":
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz":
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        source=("the official MNIST IDX test files (md5 9fb629c4189551a2d022fa330f9573f3 and "
                "ec29112dd5afa0611ce80d1b7f02629c); copy used: GitHub RahulBaboota/MNIST "
                "commit 07115411"),
        citation=("Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, 'Gradient-based learning applied "
                  "to document recognition', Proc. IEEE 86(11), 1998"),
    ),
    "mnist_m": Source(
        folder="mnist_m",
        files={
            "mnist_m_test.npz":
                "42ab79fc6bcdcd8d189611d82f3cce5cb6e9ef9df0a629dc769df8b1064fa403",
            "mnist_m_test_labels.txt":
                "2e8124bc2a92b483930141f677e09cb1c5a3fe99504e05fe59877d92766d7d61",
        },
        source=("GitHub joffery/M-ADA, folder data/mnist_m/ (commit 4763eeb8): the 9001 test "
                "PNGs packed into mnist_m_test.npz (see docs/data.md) and the original "
                "mnist_m_test_labels.txt"),
        citation=("Y. Ganin, V. Lempitsky, 'Unsupervised Domain Adaptation by "
                  "Backpropagation', ICML 2015"),
    ),
    "mnist_usps_jda": Source(
        folder="mnist_usps_jda",
        files={"MNIST_vs_USPS.mat":
               "7fbb67f14af7236e18a38dc8a0a836142361e9e720e4b763a5e2db511d306d6c"},
        source="GitHub chamwen/JPDA, data/MNIST_vs_USPS.mat (commit dba993a3)",
        citation=("M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu, 'Transfer Feature Learning "
                  "with Joint Distribution Adaptation', ICCV 2013"),
    ),
    "omniglot": Source(
        folder="omniglot",
        files={
            "images_background.npz":
                "8bf84167413cd00beacdce3fe582f780ab538d8dbef043a6d688f2527bbce199",
            "images_evaluation.npz":
                "0b84c7ffd94c4841c0040e529c86a82eaaccb986d8eadad5673f7991b7475276",
            "images_background_small1.zip":
                "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4",
            "images_background_small2.zip":
                "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f",
        },
        source=("npz files: GitHub bitsandscraps/omniglot (commit 9514cfd6), the official "
                "images_background.zip / images_evaluation.zip packed as arrays; small1/small2 "
                "zips: GitHub brendenlake/omniglot python/ (commit 32aee470, MIT licence)"),
        citation=("B. M. Lake, R. Salakhutdinov, J. B. Tenenbaum, 'Human-level concept learning "
                  "through probabilistic program induction', Science 350(6266), 2015"),
    ),
    "school": Source(
        folder="school",
        files={"school.mat": "57fb3238fdd03a9aa17276e2ce18d9bbb5d128c3261e794fe6233b58b6909068"},
        source="GitHub jiayuzhou/MALSAR, data/school.mat (commit ca3d55b8)",
        citation=("Inner London Education Authority exam data (H. Goldstein); B. Bakker, "
                  "T. Heskes, 'Task Clustering and Gating for Bayesian Multitask Learning', "
                  "JMLR 4, 2003; T. Evgeniou, C. A. Micchelli, M. Pontil, 'Learning Multiple "
                  "Tasks with Kernel Methods', JMLR 6, 2005"),
    ),
}

_REPO_SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data"


def default_manual_dir(manual_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """The manual-download folder: ``manual_dir``, else ``$JTRANSFER_MANUAL_DIR``, else
    ``../shared/data`` next to the repository when it exists, else TFDS's
    ``~/tensorflow_datasets/downloads/manual``."""
    if manual_dir is not None:
        return pathlib.Path(manual_dir).expanduser()
    env = os.environ.get("JTRANSFER_MANUAL_DIR")
    if env:
        return pathlib.Path(env).expanduser()
    if _REPO_SHARED.is_dir():
        return _REPO_SHARED
    return pathlib.Path("~/tensorflow_datasets/downloads/manual").expanduser()


def sha256(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _message(name: str, src: Source, fname: str, path: pathlib.Path, problem: str) -> str:
    return (
        f"jtransfer.data: dataset {name!r}: file {fname!r} {problem}.\n"
        f"  looked at: {path}\n"
        f"  expected SHA-256: {src.files[fname]}\n"
        f"  original source: {src.source}\n"
        f"  citation: {src.citation}\n"
        f"Download the original file and put it in <manual_dir>/{src.folder}/ (manual_dir= "
        "argument or JTRANSFER_MANUAL_DIR); see docs/data.md for instructions.")


def resolve_files(name: str, manual_dir: str | os.PathLike | None = None, *,
                  verify: bool = True) -> dict[str, pathlib.Path]:
    """Finds a dataset's files in the manual folder and verifies their SHA-256.

    Args:
      name: a key of :data:`SOURCES`.
      manual_dir: the manual-download folder (see :func:`default_manual_dir`); it may hold
        the dataset's subfolder (``office_caltech10_surf/`` etc.) or the files directly.
      verify: check the SHA-256 of every file (leave on; hashing 50 MB takes ~0.2 s).

    Returns:
      file name -> path.

    Raises:
      DataFileError: a file is missing or its checksum differs; the message names the file,
        the expected checksum, the original source and the citation.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(SOURCES)}")
    src = SOURCES[name]
    root = default_manual_dir(manual_dir)
    folder = root / src.folder if (root / src.folder).is_dir() else root
    paths = {}
    for fname, expected in src.files.items():
        path = folder / fname
        if not path.is_file():
            raise DataFileError(_message(name, src, fname, path, "is missing"))
        if verify:
            got = sha256(path)
            if got != expected:
                raise DataFileError(_message(
                    name, src, fname, path,
                    f"has SHA-256 {got}, which is not the expected checksum (altered or a "
                    "different version)"))
        paths[fname] = path
    return paths
