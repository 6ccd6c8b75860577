"""The command line's arguments: the parser, the argument types and the options shared by the commands."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from ..features import AUTOMATIC_MASKS, PRESETS, WELL_MARGIN
from ..segmentation import ASSIGNMENTS, DEFAULT_SIZE_TOLERANCE, METHODS, SEGMENTER_DEFAULTS
from .errors import CommandError
from .files import MAX_CHANNELS

#: Options that shape a fit (argparse name: flag); a saved model (--model) brings its own.
FIT_OPTIONS = {
    "n_components": "-k",
    "method": "--method",
    "epsilon": "--epsilon",
    "weights": "--class-sizes",
    "assignment": "--assign",
    "features": "--features",
    "sigmas": "--sigmas",
    "size_tolerance": "--size-tolerance",
    "sample_size": "--sample-size",
    "seed": "--seed",
}


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one sentence, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}. Run '{self.prog} --help' for the options.\n")


def whole_number(minimum: int):
    """An argparse type: a whole number of at least ``minimum``.

    Parameters
    ----------
    minimum : int
        The smallest value accepted.

    Returns
    -------
    callable
        ``parse(text) -> int``, raising :class:`argparse.ArgumentTypeError` for other text.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {minimum}, got {text!r}")
        return value

    return parse


def _n_classes(text: str) -> int:
    """An argparse type: the number of classes K, at least 2."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(
            f"expected the number of classes as a whole number of at least 2 (one class would label every "
            f"pixel 1, which is no segmentation), got {text!r}"
        )
    return value


def _class_sizes(text: str) -> str | tuple[float, ...]:
    """An argparse type: ``learned``, ``equal`` or positive numbers such as ``90,10`` (made fractions)."""
    named = {"learned": "em", "equal": "uniform"}
    if text in named:
        return named[text]
    try:
        sizes = [float(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or not all(0 < size < float("inf") for size in sizes):
        raise argparse.ArgumentTypeError(
            f"expected 'learned', 'equal' or one positive number per class such as 90,10; got {text!r}"
        )
    return tuple(size / sum(sizes) for size in sizes)


def positive_float(text: str) -> float:
    """An argparse type: a positive, finite number.

    Parameters
    ----------
    text : str
        The option's value as typed.

    Returns
    -------
    float

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else.
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def pan_neuronal_channel(text: str) -> int | bool:
    """An argparse type: a channel number, or ``none`` (the image has no pan-neuronal channel).

    Parameters
    ----------
    text : str
        The option's value as typed.

    Returns
    -------
    int or False
        The channel, or False for ``none``.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else.
    """
    if text.lower() == "none":
        return False
    try:
        return whole_number(0)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a channel number (0, 1, ...) or none, got {text!r}") from None


def add_fit_options(parser: argparse.ArgumentParser, *, with_method: bool) -> None:
    """Options that set up a fit; their default None means "not given" (see --model).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    with_method : bool
        Whether to offer ``--method`` (not for ``compare``, which runs both).
    """
    parser.add_argument("-k", "--classes", dest="n_components", type=_n_classes, default=None,
                        help=f"number of classes K, at least 2 (default {SEGMENTER_DEFAULTS['n_components']})")
    if with_method:
        parser.add_argument("--method", choices=tuple(METHODS), default=None,
                            help="how the classes are fitted: sinkhorn_start (Sinkhorn-EM places the classes, "
                                 "then EM fits them with class sizes learned from the image), em (classical "
                                 "EM) or sinkhorn (Sinkhorn-EM, class sizes held) (default sinkhorn with "
                                 "--class-sizes given as numbers, else sinkhorn_start)")
    parser.add_argument("--epsilon", type=positive_float, default=None,
                        help="Sinkhorn-EM's entropic regularisation; smaller gives harder class "
                             f"boundaries (default {SEGMENTER_DEFAULTS['epsilon']:g})")
    default_sizes = "learned, equal for --method sinkhorn" if with_method else "equal; EM always learns them"
    parser.add_argument("--class-sizes", dest="weights", type=_class_sizes, default=None, metavar="SIZES",
                        help="share of the pixels in each class: learned (from the image), equal, or one "
                             "number per class in label order, e.g. percentages 10,90 (label 1 = the 10%% "
                             f"class); a rough guess is enough, see --size-tolerance (default: {default_sizes})")
    parser.add_argument("--size-tolerance", type=positive_float, default=None, metavar="FACTOR",
                        help="with --class-sizes given as numbers: how far they may be off, as a factor; "
                             "Sinkhorn-EM searches the smallest class's share from guess/FACTOR to "
                             "guess*FACTOR and keeps the share where its objects end; 1 holds the sizes "
                             f"as given (default {DEFAULT_SIZE_TOLERANCE:g})")
    parser.add_argument("--assign", dest="assignment", choices=ASSIGNMENTS, default=None,
                        help="label each pixel with its most probable class (posterior), or as the "
                             "transport plan assigns it, which holds the class sizes (plan) "
                             "(default plan for sinkhorn with --class-sizes given as numbers, else posterior)")
    parser.add_argument("--features", choices=PRESETS, default=None,
                        help="per-pixel features: raw intensities; smoothed/edge/blob filters at several "
                             "scales (multiscale); or brightfield: intensity relative to the local background "
                             "(uneven illumination divided out, inside the mask), smoothed and as ridges at "
                             f"the --sigmas, for dark worms in a bright-field well (default {SEGMENTER_DEFAULTS['features']})")
    parser.add_argument("--sigmas", type=positive_float, nargs="+", default=None,
                        help="filter scales in micrometres (voxel-size units; pixels without a voxel size) "
                             "for --features multiscale or brightfield "
                             f"(default {' '.join(f'{sigma:g}' for sigma in SEGMENTER_DEFAULTS['sigmas'])})")
    parser.add_argument("--sample-size", type=whole_number(1), default=None,
                        help=f"pixels drawn at random to fit the model (default {SEGMENTER_DEFAULTS['sample_size']})")
    parser.add_argument("--seed", type=whole_number(0), default=None,
                        help=f"random seed; the same seed gives the same labels (default {SEGMENTER_DEFAULTS['random_state']})")


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Options that say how to read the inputs and whether to replace the outputs.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    """
    parser.add_argument("--channel-axis", type=int, default=None,
                        help="axis of the image that holds channels (default: from the file's metadata, "
                             f"else none); an axis longer than {MAX_CHANNELS} is refused as an image axis "
                             "unless --force-channel-axis")
    parser.add_argument("--force-channel-axis", action="store_true",
                        help=f"accept a --channel-axis with more than {MAX_CHANNELS} channels")
    parser.add_argument("--auto-mask", choices=AUTOMATIC_MASKS, default=None,
                        help="segment only inside a mask found from the image (its first channel): "
                             f"largest_bright_region (a bright-field well, {WELL_MARGIN} px in from its dark rim) "
                             "or otsu (pixels brighter than Otsu's threshold); 0 outside")
    parser.add_argument("--channel", type=whole_number(0), action="append", default=None, metavar="N",
                        help="use only channel N (numbered from 0) of the channel axis; repeat for several, "
                             "e.g. --channel 0 --channel 2")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


def segmenter_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Segmenter keyword arguments from the fit options (defaults for those not given).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    dict
        Keyword arguments of :class:`~napari_sinkhorn_em.segmentation.Segmenter`.

    Raises
    ------
    CommandError
        If the class sizes or the size tolerance do not fit the other options.
    """
    settings = {
        "n_components": SEGMENTER_DEFAULTS["n_components"] if args.n_components is None else args.n_components,
        "epsilon": SEGMENTER_DEFAULTS["epsilon"] if args.epsilon is None else args.epsilon,
        "features": args.features or SEGMENTER_DEFAULTS["features"],
        "sample_size": SEGMENTER_DEFAULTS["sample_size"] if args.sample_size is None else args.sample_size,
        "random_state": SEGMENTER_DEFAULTS["random_state"] if args.seed is None else args.seed,
    }
    for name in ("method", "weights", "assignment"):
        if getattr(args, name, None) is not None:
            settings[name] = getattr(args, name)
    sizes = settings.get("weights")
    if isinstance(sizes, tuple) and len(sizes) != settings["n_components"]:
        raise CommandError(
            f"--class-sizes gives {len(sizes)} sizes but there are {settings['n_components']} classes; "
            "give one size per class"
        )
    if args.sigmas is not None:
        settings["sigmas"] = tuple(args.sigmas)
    if getattr(args, "size_tolerance", None) is not None:
        if args.size_tolerance < 1:
            raise CommandError("--size-tolerance is a factor of 1 or more (1 holds the class sizes as given)")
        settings["size_tolerance"] = args.size_tolerance
    return settings
