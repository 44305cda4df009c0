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

__all__ = [
    "AMAZON_DOMAINS",
    "AMAZON_NUM_FEATURES",
    "AMAZON_TEXT_DOMAINS",
    "DataFileError",
    "FDU_MTL_DOMAINS",
    "JDA_DOMAINS",
    "NUM_OMNIGLOT_BACKGROUND",
    "OFFICE_CLASSES",
    "OFFICE_DOMAINS",
    "OMNIGLOT_SPLITS",
    "SOURCES",
    "Source",
    "default_manual_dir",
    "resolve_files",
    "sha256",
]

OFFICE_DOMAINS = ("amazon", "caltech", "dslr", "webcam")
OFFICE_CLASSES = (
    "back_pack",
    "bike",
    "calculator",
    "headphones",
    "keyboard",
    "laptop_computer",
    "monitor",
    "mouse",
    "mug",
    "projector",
)
AMAZON_DOMAINS = ("books", "dvd", "electronics", "kitchen")
AMAZON_TEXT_DOMAINS = AMAZON_DOMAINS  # the same four Blitzer domains, as raw text
# FDU-MTL's 16 domains in the column order of Liu et al. (2017), Table 2; "mr" is MR.task.*
FDU_MTL_DOMAINS = (
    "books",
    "electronics",
    "dvd",
    "kitchen_housewares",
    "apparel",
    "camera_photo",
    "health_personal_care",
    "music",
    "toys_games",
    "video",
    "baby",
    "magazines",
    "software",
    "sports_outdoors",
    "imdb",
    "mr",
)
JDA_DOMAINS = ("mnist", "usps")
OMNIGLOT_SPLITS = ("background", "evaluation", "small1", "small2")
NUM_OMNIGLOT_BACKGROUND = 964
AMAZON_NUM_FEATURES = 5000


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
            "amazon_SURF_L10.mat": "df32548b994e18d364c99e1f317e1fae100597259f0423a41b90f4f68187bb1f",  # noqa: E501
            "amazon_SURF_L10_imgs.mat": "6d1624443b99f69a2f80bdfea25800f49c339db2f702ce06328618ae7e3b7e59",  # noqa: E501
            "Caltech10_SURF_L10.mat": "4f9334c8ced489d5054de97a5fd51a61f017f3bcd1f38c9a85c6d78cb9d7bda5",  # noqa: E501
            "Caltech10_SURF_L10_imgs.mat": "9f11333e518aa550464464dc0490576d9779ef7d18b9cbbab5195526d8de5ee5",  # noqa: E501
            "dslr_SURF_L10.mat": "44d673c68e1d07b837893aa74dba3b986e4a6cc3fd66f0dd357683bdef059216",
            "dslr_SURF_L10_imgs.mat": "ef8db1910ca89c717b8c992de1c4a1923694e6f2138465cee8483924c9aaef45",  # noqa: E501
            "webcam_SURF_L10.mat": "a6a9c78b4b7181dfbb58bcfd351d4ebd737f171c31247b8884948aa156d3f700",  # noqa: E501
            "webcam_SURF_L10_imgs.mat": "35a6b38a2df34af6f7a34e0030e89f71540aefac84f0ea8645b3a85d57c9e6be",  # noqa: E501
        },
        source=(
            "GFK data package, as shipped in GitHub VisionLearningGroup/CORAL "
            "code/CORAL_Source_Code.zip (commit 7fc1be48), members "
            "CORAL_Source_Code/data/*_SURF_L10*.mat; byte-identical copies in "
            "jindongwang/transferlearning code/BDA/data/"
        ),
        citation=(
            "B. Gong, Y. Shi, F. Sha, K. Grauman, 'Geodesic Flow Kernel for Unsupervised "
            "Domain Adaptation', CVPR 2012; K. Saenko, B. Kulis, M. Fritz, T. Darrell, "
            "'Adapting Visual Category Models to New Domains', ECCV 2010"
        ),
    ),
    "amazon_reviews": Source(
        folder="amazon_reviews_dann",
        files={
            "books_test.svmlight": "fe4605c7dcf0e0a9410fd2a32f247caaf9abb352cc6e4c3e0f400853163ad9c4",  # noqa: E501
            "books_train.svmlight": "317f9a2ec34b81de770b63a84d8c5cc2dc16bd0be6e079d2ff5b5bad5213ea19",  # noqa: E501
            "dvd_test.svmlight": "4fe1b1a15010f78d8d0c49fe362d35fd4677463a45f1ac02a9f410ae1e638060",
            "dvd_train.svmlight": "95f602aa08bf6b55758f7b0b18df3882fe30acb11987ee60b6b4bb3c44cba733",  # noqa: E501
            "electronics_test.svmlight": "641783bc941839c3a111d3488a1b7e3bd820a61ec14a129e7429b47703aa961d",  # noqa: E501
            "electronics_train.svmlight": "7d0061f03ff3827e4f8036b051b5e5828fddc0cd115aa5b212cd28d624dc14e4",  # noqa: E501
            "kitchen_test.svmlight": "e1502b97a824eb12314be4447394fa736fecb781c0724e6529cd6733ac7ff6d8",  # noqa: E501
            "kitchen_train.svmlight": "a70b5ebfe1413e0e16280360905f5c3b64389c435cd20c0165dc9d7f293b31b5",  # noqa: E501
        },
        source=(
            "GitHub GRAAL-Research/domain_adversarial_neural_network, folder data/ "
            "(added in commit 35d15ded)"
        ),
        citation=(
            "J. Blitzer, M. Dredze, F. Pereira, 'Biographies, Bollywood, Boom-boxes and "
            "Blenders: Domain Adaptation for Sentiment Classification', ACL 2007; "
            "Y. Ganin et al., 'Domain-Adversarial Training of Neural Networks', "
            "JMLR 17(59), 2016"
        ),
    ),
    "usps": Source(
        folder="usps",
        files={"usps.h5": "734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36"},
        source=(
            "GitHub niuers/Learning-From-Data-A-Short-Course, data/usps.h5 (commit "
            "35684e89); the Kaggle 'usps.h5' layout (bistaumanga/usps-dataset)"
        ),
        citation=(
            "J. J. Hull, 'A database for handwritten text recognition research', "
            "IEEE TPAMI 16(5), 1994"
        ),
    ),
    "mnist": Source(
        folder="mnist",
        files={
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",  # noqa: E501
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",  # noqa: E501
        },
        source=(
            "the official MNIST IDX test files (md5 9fb629c4189551a2d022fa330f9573f3 and "
            "ec29112dd5afa0611ce80d1b7f02629c); copy used: GitHub RahulBaboota/MNIST "
            "commit 07115411"
        ),
        citation=(
            "Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, 'Gradient-based learning applied "
            "to document recognition', Proc. IEEE 86(11), 1998"
        ),
    ),
    "mnist_m": Source(
        folder="mnist_m",
        files={
            "mnist_m_test.npz": "42ab79fc6bcdcd8d189611d82f3cce5cb6e9ef9df0a629dc769df8b1064fa403",
            "mnist_m_test_labels.txt": "2e8124bc2a92b483930141f677e09cb1c5a3fe99504e05fe59877d92766d7d61",  # noqa: E501
        },
        source=(
            "GitHub joffery/M-ADA, folder data/mnist_m/ (commit 4763eeb8): the 9001 test "
            "PNGs packed into mnist_m_test.npz (see docs/data.md) and the original "
            "mnist_m_test_labels.txt"
        ),
        citation=(
            "Y. Ganin, V. Lempitsky, 'Unsupervised Domain Adaptation by Backpropagation', ICML 2015"
        ),
    ),
    "mnist_usps_jda": Source(
        folder="mnist_usps_jda",
        files={
            "MNIST_vs_USPS.mat": "7fbb67f14af7236e18a38dc8a0a836142361e9e720e4b763a5e2db511d306d6c"
        },
        source="GitHub chamwen/JPDA, data/MNIST_vs_USPS.mat (commit dba993a3)",
        citation=(
            "M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu, 'Transfer Feature Learning "
            "with Joint Distribution Adaptation', ICCV 2013"
        ),
    ),
    "omniglot": Source(
        folder="omniglot",
        files={
            "images_background.npz": "8bf84167413cd00beacdce3fe582f780ab538d8dbef043a6d688f2527bbce199",  # noqa: E501
            "images_evaluation.npz": "0b84c7ffd94c4841c0040e529c86a82eaaccb986d8eadad5673f7991b7475276",  # noqa: E501
            "images_background_small1.zip": "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4",  # noqa: E501
            "images_background_small2.zip": "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f",  # noqa: E501
        },
        source=(
            "npz files: GitHub bitsandscraps/omniglot (commit 9514cfd6), the official "
            "images_background.zip / images_evaluation.zip packed as arrays; small1/small2 "
            "zips: GitHub brendenlake/omniglot python/ (commit 32aee470, MIT licence)"
        ),
        citation=(
            "B. M. Lake, R. Salakhutdinov, J. B. Tenenbaum, 'Human-level concept learning "
            "through probabilistic program induction', Science 350(6266), 2015"
        ),
    ),
    "school": Source(
        folder="school",
        files={"school.mat": "57fb3238fdd03a9aa17276e2ce18d9bbb5d128c3261e794fe6233b58b6909068"},
        source="GitHub jiayuzhou/MALSAR, data/school.mat (commit ca3d55b8)",
        citation=(
            "Inner London Education Authority exam data (H. Goldstein); B. Bakker, "
            "T. Heskes, 'Task Clustering and Gating for Bayesian Multitask Learning', "
            "JMLR 4, 2003; T. Evgeniou, C. A. Micchelli, M. Pontil, 'Learning Multiple "
            "Tasks with Kernel Methods', JMLR 6, 2005"
        ),
    ),
    "amazon_text": Source(
        folder="amazon_text_blitzer",
        files={
            "books/negative.parsed": "c212e6f8601db51807baefc7db44e0c96c900fb53da16e57beaa7b96074a9c58",  # noqa: E501
            "books/positive.parsed": "b740263ec09f4e8b070ba82dd160306d0bd870eb394bc8d6e191d76986c30b98",  # noqa: E501
            "dvd/negative.parsed": "58c9e62eb5e97de4dbc7817d4549c6cd23fb947d6403eaddae1cebc7a8459b17",  # noqa: E501
            "dvd/positive.parsed": "3258e0b744068d5cf493b585edba40bd9f29ff457f7ff01be8b94c3af792047c",  # noqa: E501
            "electronics/negative.parsed": "f09930ad7cbf8e6e3be6add636c932c197ec7d55f351907d6c3cadc22bf4eeb0",  # noqa: E501
            "electronics/positive.parsed": "f4eee889891058bee5c0773f7c6862f8dc9ea59ef182d170ee42de2ff2c4844e",  # noqa: E501
            "kitchen/negative.parsed": "a73bb3dcbe165d18983aa37fa8afc1b745a643582b422b78d1d95ee4e0576318",  # noqa: E501
            "kitchen/positive.parsed": "bf12d5495293d490c61665111f55e33243cfa7281b96e62e467bc84d3b7e7a58",  # noqa: E501
        },
        source=(
            "GitHub yftah89/PBLM-Domain-Adaptation (Ziser and Reichart, NAACL 2018), "
            "commit 2eef645, path data/<domain>/{positive,negative}.parsed"
        ),
        citation=(
            "J. Blitzer, M. Dredze, F. Pereira, 'Biographies, Bollywood, Boom-boxes and "
            "Blenders: Domain Adaptation for Sentiment Classification', ACL 2007"
        ),
    ),
    "fdu_mtl": Source(
        folder="fdu_mtl",
        files={
            "MR.task.test": "82ec2a6d570978d173240dfd655c25e151761d7d0ace365725745a361e6fabea",
            "MR.task.train": "a6f222085a50061dd560c3beafc968679abae74683e3d18a66b619c5e2d178dc",
            "MR.task.unlabel": "fa9dee0e94afe5a6d58f1670ac7db53c450e0f806f158dea78fb766f1ee053bb",
            "apparel.task.test": "8e591ec14fa0e3d26837b9a40c99d3a93b49f47e7a3fbe4d0afe1b4e1dd45439",
            "apparel.task.train": "589702d71eded8ca23907acf6e434f203c8c6feb09737106f77f03707641ffc3",  # noqa: E501
            "apparel.task.unlabel": "7dc0cf126e07552b41d2574627a3a6d0d9c3f958a368fe5e41d8cd353b0f4a3f",  # noqa: E501
            "baby.task.test": "8763bb4b8bbf83b93b6aab03706719fc742fb7d89830a6bd95ea1c2490ea58f7",
            "baby.task.train": "0d884186f3aef0e12dafac0a875887fe631de0df992b15158ab177763882bf57",
            "baby.task.unlabel": "f4f2be61dddc8165ba40d9fc90d51a21c0c9d1f4b6eaa20c93fd3f9d9a8c95e2",
            "books.task.test": "b451ac03e48b599bf35dd1a450158389e1ac9018950e95c631053ac14a5b10ad",
            "books.task.train": "40c4c5971165b9e0a509a60472c3bf06c8e1430d4944833141eb3c34d986b65e",
            "books.task.unlabel": "5121a335a736523b5bd0dc47e05da2b085bf6f42aec2ca20ba7142d620241563",  # noqa: E501
            "camera_photo.task.test": "3fdea0837d6c41f04720dce8d2e690bbdeb5019ecac749f8f38472ac1dcfa439",  # noqa: E501
            "camera_photo.task.train": "425bf93c303b2f38d2f53649508ea9e55d0114679ecb00fda5c2c15ebbe9e708",  # noqa: E501
            "camera_photo.task.unlabel": "d94c682441e8b8a57ff992e244ef0137e07528cd9f3631874f89e2d40aefca04",  # noqa: E501
            "dvd.task.test": "762e6e030892375eda4f211be58624a3bb6a07c966901c79b803837d21fca4b5",
            "dvd.task.train": "47334240d9cef76ac5f15a10f9082c3d2c6e7f9a9bb0478a3800ede2a0300771",
            "dvd.task.unlabel": "5673c05efcefbf5d38a1ca7e1110cbf58a95e1b02a7a0c729c46f2ba21f223bf",
            "electronics.task.test": "a4d2e7d2a5b8b501a6611e45e1b241aa0d601388b79265cfc94c203cb52f8b8c",  # noqa: E501
            "electronics.task.train": "bb2f28c4a20e3d075dd71ff049970bd445f4d47bcc8404a68eb03850413a8da7",  # noqa: E501
            "electronics.task.unlabel": "da24efbec0053b8b8383e530dab3e4a358e75ae2e65d09624c6843bad30f69a8",  # noqa: E501
            "health_personal_care.task.test": "07f289177da7ebe71f1ac2ee3d5a25f190913e2a11116f0fb55862e01b60a331",  # noqa: E501
            "health_personal_care.task.train": "384f1ec3d76a2f755844cac4bd7725b86bc79910dae60fc33f133e380f827b4a",  # noqa: E501
            "health_personal_care.task.unlabel": "70bd1a5b004f2d0edc6bcf0ec6ff5c464f232a351bdcf4b88d4a655d97110355",  # noqa: E501
            "imdb.task.test": "dc708b7338157a6be56a1ded26abd97f82284d0e736876a6b833ad59e8a2cd53",
            "imdb.task.train": "16dd91ee7aebde130cfeb4d1c58bfe221ad87f1862fdb8ae694693eec3432caa",
            "imdb.task.unlabel": "ea4e02252cf95661af402ef7b7b6b9addc0a0666a03d8d7b81eefb08af0b413d",
            "kitchen_housewares.task.test": "86bcc015f7cfa773880951830ac6161dc2b8717e8a69773ca11a5bd6529b2020",  # noqa: E501
            "kitchen_housewares.task.train": "df5c9e8473b084a6b252dfbb5e074adcaacb9638a882fee3f20d62d747f45d6f",  # noqa: E501
            "kitchen_housewares.task.unlabel": "6255b3597385952d45920ce4451291a246ecd997ef75d964ff56fff9e31ad9e7",  # noqa: E501
            "magazines.task.test": "620ecd0ccd7b7f73483b8cdcef5ca07dff92e2d57c9cf4b6e9f7d669a681f6c3",  # noqa: E501
            "magazines.task.train": "d4805a9f094c1c7befa64bc42ea846261b1290a2fd120c46f45c9e89faf782ae",  # noqa: E501
            "magazines.task.unlabel": "87de41f73d65b525d2918833a944427196cd4a0346d9d083086b4814333fd9bd",  # noqa: E501
            "music.task.test": "54a157c56930b9e587b6b955fe4b2e3258d2f70d0d58ccbbf40a4bfd846ee204",
            "music.task.train": "f0b41243475c16391a02e91d87710ed87d68927d4d77f526a3d2369a98ac572e",
            "music.task.unlabel": "3f2ee8a5becb232368d2bc599ab131778558e05009f8f6957ce2a10106a6ea9a",  # noqa: E501
            "software.task.test": "3b92617a5b3ad618b7aaab98546d49c2a69f46dedbceb4ec14dee1cbb4ff02d3",  # noqa: E501
            "software.task.train": "a050cb3ea22b94b21ce70acff3a23eabd1f39307bd862d6c0cc23170eb4830f4",  # noqa: E501
            "software.task.unlabel": "a34c6f844ba0ac1a8d3325b396451c6b6f8928f219f22408192c417357497b80",  # noqa: E501
            "sports_outdoors.task.test": "77394d7c91fbc69cc16bfaf79f1f945999fe2d8e0fc536f1f79d17089e611f49",  # noqa: E501
            "sports_outdoors.task.train": "062ac0e2fb04a81c1f06f15b219634810a323a2ee187750e2f479030ebad0326",  # noqa: E501
            "sports_outdoors.task.unlabel": "7742f40a8b02cd5701a647d6ccaf3746bb863af28cdd6fa0404b507b131b9ca4",  # noqa: E501
            "toys_games.task.test": "6ee304a53f25697ee96bcb60fe07cc36d282ef343c3e0f8ae09df669ec39b116",  # noqa: E501
            "toys_games.task.train": "bb8404d3b48ab02bca2a75bb1e245297aac36b8143a81549f6485b4c2d24dd10",  # noqa: E501
            "toys_games.task.unlabel": "8808944481c5478a94f231f2fb9541036c5f882de225e2cb8357ab42fd59696d",  # noqa: E501
            "video.task.test": "8de7a49ee3001409c9049b1f52949d78c7875cb92e031b43f5cef681dfd341e4",
            "video.task.train": "2867b3e5fffc44132aa61ff49dd608eeacc503b2c9c2133680f0cb4a7a258f3e",
            "video.task.unlabel": "0178424fe97c0203c0f3cabcb31e1370bf656895b76a189ecf1ecfd151abe3f2",  # noqa: E501
        },
        source=(
            "GitHub m1ci/of-demo, commit 4561cdc2, path data/mtl-dataset/ (a copy of the "
            "FDU-MTL files; canonical archive: fudan-mtl-dataset.tar.gz in "
            "FrankWork/fudan_mtl_reviews, not compared byte for byte)"
        ),
        citation=(
            "P. Liu, X. Qiu, X. Huang, 'Adversarial Multi-task Learning for Text "
            "Classification', ACL 2017"
        ),
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
        "argument or JTRANSFER_MANUAL_DIR); see docs/data.md for instructions."
    )


def resolve_files(
    name: str, manual_dir: str | os.PathLike | None = None, *, verify: bool = True
) -> dict[str, pathlib.Path]:
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
                raise DataFileError(
                    _message(
                        name,
                        src,
                        fname,
                        path,
                        f"has SHA-256 {got}, which is not the expected checksum (altered or a "
                        "different version)",
                    )
                )
        paths[fname] = path
    return paths
