"""The app «К врачу» (an installable web app served by medsign): its quick login lives in
``quick_login``."""
