import sys

from scsampler.cli import main

sys.exit(main())
