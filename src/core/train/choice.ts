/** Which trainer a run uses, and opening it: kept apart from the Trainer interface, which both trainers implement. */
import type { Backend } from '../compute/backend';
import { pytorchTrainer, PytorchSettings } from './pytorchTrainer';
import { embeddedTrainer, Trainer } from './trainer';

/** Which trainer a run uses: the embedded one, or PyTorch with its settings. */
export type TrainerChoice = { kind: 'embedded' } | ({ kind: 'pytorch' } & PytorchSettings);

/** The chosen trainer; PyTorch's interpreter is checked here (an InputError saying what to install or set). */
export function openTrainer(choice: TrainerChoice | undefined, backend: Backend): Promise<Trainer> {
  return choice?.kind === 'pytorch' ? pytorchTrainer(choice) : Promise.resolve(embeddedTrainer(backend));
}
