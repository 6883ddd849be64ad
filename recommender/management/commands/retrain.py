from django.core.management.base import BaseCommand, CommandError

from recommender.models import TrainingRun
from recommender.services.training import RetrainAlreadyRunning, retrain


def holdout_summary(run: TrainingRun) -> str:
    """One line on what the run was judged on and how both models did."""
    holdout = run.metrics.get("holdout", {})
    if not holdout.get("readers"):
        return "hold-out: none (no gate reader has feedback to score)"
    line = (
        f"hold-out: {holdout['kind']}, {holdout['readers']} readers, {holdout['papers']} papers; "
        f"new model recall@20 {run.metrics['recall@20']:.4f}"
    )
    active = run.metrics.get("active_model")
    if active:
        line += f", active model ({active['version']}) {active['recall@20']:.4f}"
    return line


class Command(BaseCommand):
    help = "Retrain the recommender on all feedback; activate the new model unless it is clearly worse."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--if-no-model", action="store_true", help="do nothing when a model is already active (for set-up scripts)")

    def handle(self, *args, if_no_model: bool = False, **options) -> None:
        if if_no_model and TrainingRun.objects.filter(is_active=True).exists():
            self.stdout.write("A model is already active; not retraining (drop --if-no-model to retrain).")
            return
        try:
            run = retrain(on_stage=lambda stage: self.stdout.write(f"… {stage}"))
        except RetrainAlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        sizes = ", ".join(f"{k} {v}" for k, v in run.sizes.items())
        timings = ", ".join(f"{k} {v:.2f}s" for k, v in run.timings.items())
        self.stdout.write(f"Run {run.version}: {sizes}\n  stages: {timings}\n  {holdout_summary(run)}")
        if run.status == TrainingRun.Status.FAILED:
            raise CommandError(f"Retrain failed: {run.message.splitlines()[0]}")
        style = self.style.SUCCESS if run.status == TrainingRun.Status.ACTIVATED else self.style.WARNING
        self.stdout.write(style(run.message))
