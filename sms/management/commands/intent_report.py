"""How the intent rules do on the replies agents relabelled."""

from django.core.management.base import BaseCommand

from sms.inbox.intents import classifier_report, intent_label_pairs


class Command(BaseCommand):
    help = "Precision, recall and F1 per intent, measured on agents' relabels of inbound replies."

    def handle(self, *args, **options):
        pairs = list(intent_label_pairs())
        if not pairs:
            self.stdout.write(
                "No relabelled replies yet: agents' relabels in the inbox are what this measures."
            )
            return
        report = classifier_report(pairs)
        self.stdout.write(f"{len(pairs)} relabelled replies\n")
        self.stdout.write(f"{'intent':<10} {'precision':>9} {'recall':>7} {'F1':>6} {'n':>5}")
        for intent, row in report["intents"].items():
            precision, recall, f1, n = row["precision"], row["recall"], row["f1"], row["support"]
            self.stdout.write(f"{intent:<10} {precision:>9.2f} {recall:>7.2f} {f1:>6.2f} {n:>5}")
        self.stdout.write(f"{'macro F1':<10} {report['macro_f1']:>24.3f}")
